/**
 * The consult room (/consultations/{id}): who is here, a follow-the-presenter viewer, the
 * conversation, a WebRTC call and (for the consultant) the opinion form.
 *
 * Everything live goes over the room socket: viewer states (ids and numbers), presence,
 * WebRTC signalling and notifications of new messages (ids: the messages themselves are read
 * over REST from the last id seen, so each shows exactly once, also after a reconnect).
 */

import type { AppContext, Page } from '../app';
import { ApiError } from '../api/errors';
import { stateError } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import {
  ConsultApi, type Consultation, type Message, type RoomInfo, type RoomSeries, type Urgency,
  clientKey, failureText, urgencyLabel,
} from './consultApi';
import { type AnalysisEvent, RoomFindingsPanel } from './consultFindings';
import { opinionElement } from './consultPanel';
import { notFoundElement } from './patient';
import './consult.css';

/** What the presenter shares; pan and pointer are fractions of the image box. */
export interface ViewState {
  series: number;
  slice: number;
  ww: number;
  wc: number;
  zoom: number;
  pan: [number, number];
  pointer: [number, number] | null;
}

interface Person {
  readonly id: number;
  readonly name: string;
  readonly role: string;
}

type RoomEvent =
  | { type: 'viewer.state'; from: number; seq: number; t: number; state: ViewState }
  | { type: 'presenter'; user_id: number }
  | { type: 'presence.join' | 'presence.here' | 'presence.leave'; user: Person }
  | { type: 'rtc.signal'; from: number; data: { sdp?: RTCSessionDescriptionInit; candidate?: RTCIceCandidateInit | null; hangup?: boolean } }
  | { type: 'message.created'; thread_id: number; message_id: number }
  | { type: 'message.read'; thread_id: number; user_id: number; message_id: number }
  | { type: 'consultation.changed'; consultation_id: number; status: string }
  | { type: 'room.error'; code: string; message: string }
  | AnalysisEvent;

interface Instance {
  readonly sop: string;
  readonly frames: number;
}

const DEFAULT_WINDOW = { ww: 400, wc: 40 };

async function instancesOf(root: string, series: RoomSeries): Promise<Instance[]> {
  const response = await fetch(`${root}/studies/${series.study_uid}/series/${series.series_uid}/instances`, {
    credentials: 'same-origin', headers: { Accept: 'application/dicom+json' },
  });
  if (response.status === 204) return [];
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const rows = (await response.json()) as Record<string, { Value?: unknown[] }>[];
  const value = (row: Record<string, { Value?: unknown[] }>, tag: string): unknown => row[tag]?.Value?.[0];
  return rows
    .map((row) => ({ sop: String(value(row, '00080018') ?? ''), number: Number(value(row, '00200013') ?? 0), frames: Number(value(row, '00280008') ?? 1) || 1 }))
    .filter((row) => row.sop)
    .sort((a, b) => a.number - b.number)
    .map((row) => ({ sop: row.sop, frames: row.frames }));
}

/** The shared viewer: rendered slices from the DICOMweb proxy, window/level, zoom/pan, pointer. */
class RoomViewer {
  readonly element: HTMLElement;
  private readonly image: HTMLImageElement;
  private readonly pointer: HTMLElement;
  private readonly sliceInput: HTMLInputElement;
  private readonly wwInput: HTMLInputElement;
  private readonly wcInput: HTMLInputElement;
  private readonly zoomInput: HTMLInputElement;
  private readonly seriesSelect: HTMLSelectElement;
  private readonly stage: HTMLElement;
  private readonly withheld: HTMLElement;
  private instances: Instance[] = [];
  private loadedSeries = 0;
  private shownSrc = '';
  private objectUrl: string | null = null;
  state: ViewState;
  onLocalChange: (state: ViewState) => void = () => undefined;
  /** Applied states' receive times, for the follower-side latency the bench reads. */
  lastApplied = 0;

  constructor(private readonly root: string, private readonly series: readonly RoomSeries[]) {
    this.state = { series: series[0]?.id ?? 0, slice: 0, ...DEFAULT_WINDOW, zoom: 1, pan: [0, 0], pointer: null };
    this.image = h('img', { id: 'room-image', alt: 'Shared image', draggable: 'false' });
    this.pointer = h('div', { class: 'room-pointer', id: 'room-pointer', hidden: true });
    this.withheld = h('p', { class: 'room-withheld', id: 'room-withheld', role: 'status', hidden: true },
      'Images of this series are withheld from this de-identified share: they may show identifying text burned into the pixels.');
    this.stage = h('div', { class: 'room-stage', tabindex: '0', 'aria-label': 'Shared image: arrow keys change slice' }, this.image, this.pointer, this.withheld);
    this.seriesSelect = h('select', { id: 'room-series', 'aria-label': 'Series' },
      ...series.map((s) => h('option', { value: String(s.id) }, `${s.modality} ${s.description || `series ${s.id}`}`)));
    this.sliceInput = h('input', { type: 'range', id: 'room-slice', min: 0, max: 0, value: 0, 'aria-label': 'Slice' });
    this.wwInput = h('input', { type: 'number', id: 'room-ww', value: DEFAULT_WINDOW.ww, min: 1, 'aria-label': 'Window width' });
    this.wcInput = h('input', { type: 'number', id: 'room-wc', value: DEFAULT_WINDOW.wc, 'aria-label': 'Window centre' });
    this.zoomInput = h('input', { type: 'range', id: 'room-zoom', min: 0.5, max: 4, step: 0.1, value: 1, 'aria-label': 'Zoom' });
    this.element = h('section', { class: 'room-viewer', id: 'room-viewer', 'aria-label': 'Shared viewer' },
      h('div', { class: 'room-controls' },
        h('label', null, 'Series ', this.seriesSelect),
        h('label', null, 'Slice ', this.sliceInput),
        h('label', null, 'W ', this.wwInput),
        h('label', null, 'L ', this.wcInput),
        h('label', null, 'Zoom ', this.zoomInput)),
      this.stage);
    this.seriesSelect.addEventListener('change', () => this.local({ series: Number(this.seriesSelect.value), slice: 0 }));
    this.sliceInput.addEventListener('input', () => this.local({ slice: Number(this.sliceInput.value) }));
    this.wwInput.addEventListener('change', () => this.local({ ww: Math.max(1, Number(this.wwInput.value)) }));
    this.wcInput.addEventListener('change', () => this.local({ wc: Number(this.wcInput.value) }));
    this.zoomInput.addEventListener('input', () => this.local({ zoom: Number(this.zoomInput.value) }));
    this.stage.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowUp' || event.key === 'ArrowRight') this.local({ slice: Math.min(this.state.slice + 1, this.instances.length - 1) });
      else if (event.key === 'ArrowDown' || event.key === 'ArrowLeft') this.local({ slice: Math.max(this.state.slice - 1, 0) });
      else return;
      event.preventDefault();
    });
    this.stage.addEventListener('pointermove', (event) => {
      const box = this.stage.getBoundingClientRect();
      if (!box.width || !box.height) return;
      this.local({ pointer: [(event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height] });
    });
    this.stage.addEventListener('pointerleave', () => this.local({ pointer: null }));
  }

  private local(change: Partial<ViewState>): void {
    this.state = { ...this.state, ...change };
    void this.render();
    this.onLocalChange(this.state);
  }

  /** A state from the presenter. */
  apply(state: ViewState): void {
    this.state = state;
    this.lastApplied = performance.now();
    void this.render();
  }

  setPresenting(presenting: boolean): void {
    this.element.dataset.role = presenting ? 'presenter' : 'follower';
    for (const input of [this.seriesSelect, this.sliceInput, this.wwInput, this.wcInput, this.zoomInput]) input.disabled = !presenting;
  }

  async render(): Promise<void> {
    const state = this.state;
    const series = this.series.find((s) => s.id === state.series);
    if (!series) return;
    if (this.loadedSeries !== series.id) {
      this.instances = series.pixels_withheld ? [] : await instancesOf(this.root, series);
      this.loadedSeries = series.id;
      this.sliceInput.max = String(Math.max(this.instances.length - 1, 0));
    }
    if (this.state !== state) return; // a newer state arrived while the series loaded
    const instance = this.instances[Math.min(state.slice, this.instances.length - 1)];
    this.seriesSelect.value = String(series.id);
    this.sliceInput.value = String(state.slice);
    this.wwInput.value = String(state.ww);
    this.wcInput.value = String(state.wc);
    this.zoomInput.value = String(state.zoom);
    this.image.style.transform = `translate(${state.pan[0] * 100}%, ${state.pan[1] * 100}%) scale(${state.zoom})`;
    if (state.pointer) {
      this.pointer.hidden = false;
      this.pointer.style.left = `${state.pointer[0] * 100}%`;
      this.pointer.style.top = `${state.pointer[1] * 100}%`;
    } else {
      this.pointer.hidden = true;
    }
    this.withheld.hidden = !series.pixels_withheld;
    this.image.hidden = series.pixels_withheld;
    this.element.dataset.withheld = String(series.pixels_withheld);
    if (instance && !series.pixels_withheld) {
      const src = `${this.root}/studies/${series.study_uid}/series/${series.series_uid}/instances/${instance.sop}/rendered?window=${state.wc},${state.ww},linear`;
      if (this.shownSrc !== src) {
        // Fetched rather than set as the img's src: a browser's image Accept header (avif,
        // webp, ...) is more than a PACS renders; JPEG is what every DICOMweb server offers.
        const response = await fetch(src, { credentials: 'same-origin', headers: { Accept: 'image/jpeg' } });
        if (this.state !== state) return;
        if (response.ok) {
          const url = URL.createObjectURL(await response.blob());
          await new Promise<void>((resolve) => {
            this.image.onload = () => resolve();
            this.image.onerror = () => resolve();
            this.image.src = url;
          });
          if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
          this.objectUrl = url;
          this.shownSrc = src;
        }
      }
    }
    if (this.state !== state) return;
    Object.assign(this.element.dataset, {
      series: String(state.series), slice: String(state.slice), ww: String(state.ww), wc: String(state.wc),
      zoom: String(state.zoom), slices: String(this.instances.length),
    });
    this.element.dispatchEvent(new CustomEvent('cdss:room-rendered', { detail: { state } }));
  }

  destroy(): void {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }

  currentImageRef(): string | null {
    const series = this.series.find((s) => s.id === this.state.series);
    const instance = this.instances[this.state.slice];
    return series && instance ? `${series.study_uid}/${series.series_uid}/${instance.sop}/1` : null;
  }
}

/** A call between the two sides: the caller offers, the other answers; media from the camera. */
class RoomCall {
  readonly element: HTMLElement;
  private readonly localVideo: HTMLVideoElement;
  private readonly remoteVideo: HTMLVideoElement;
  private readonly stateText: HTMLElement;
  private readonly button: HTMLButtonElement;
  private peer: RTCPeerConnection | null = null;
  private local: MediaStream | null = null;
  private pending: RTCIceCandidateInit[] = [];

  constructor(private readonly ice: RTCIceServer[], private readonly signal: (to: number, data: object) => void, private readonly other: () => number | null) {
    this.localVideo = h('video', { id: 'room-local-video', autoplay: true, playsinline: true, muted: true });
    this.remoteVideo = h('video', { id: 'room-remote-video', autoplay: true, playsinline: true });
    this.localVideo.muted = true;
    this.stateText = h('p', { id: 'room-call-state', class: 'small', role: 'status' }, 'No call');
    this.button = h('button', { type: 'button', class: 'btn btn-small', id: 'room-call' }, 'Start call');
    this.button.addEventListener('click', () => void (this.peer ? this.hangup(true) : this.start()));
    this.element = h('section', { class: 'room-call', 'aria-label': 'Video call' }, h('div', { class: 'room-videos' }, this.remoteVideo, this.localVideo), this.stateText, this.button);
  }

  private async media(): Promise<MediaStream> {
    this.local ??= await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    this.localVideo.srcObject = this.local;
    return this.local;
  }

  private connection(to: number): RTCPeerConnection {
    const peer = new RTCPeerConnection({ iceServers: this.ice });
    peer.onicecandidate = (event) => this.signal(to, { candidate: event.candidate ? event.candidate.toJSON() : null });
    peer.ontrack = (event) => {
      const [stream] = event.streams;
      if (stream) this.remoteVideo.srcObject = stream;
      const live = () => event.track.readyState === 'live';
      this.stateText.textContent = live() ? 'In call' : 'Connecting…';
      this.element.dataset.remoteLive = String(live());
      this.element.dataset.remoteTracks = String((this.remoteVideo.srcObject as MediaStream | null)?.getTracks().length ?? 0);
    };
    peer.onconnectionstatechange = () => {
      this.element.dataset.connection = peer.connectionState;
      if (peer.connectionState === 'failed' || peer.connectionState === 'closed') this.hangup(false);
    };
    this.peer = peer;
    this.button.textContent = 'Hang up';
    return peer;
  }

  async start(): Promise<void> {
    const to = this.other();
    if (to === null) {
      this.stateText.textContent = 'Nobody else is in the room.';
      return;
    }
    const peer = this.connection(to);
    for (const track of (await this.media()).getTracks()) peer.addTrack(track, this.local as MediaStream);
    const offer = await peer.createOffer();
    await peer.setLocalDescription(offer);
    this.signal(to, { sdp: peer.localDescription?.toJSON() ?? offer });
    this.stateText.textContent = 'Calling…';
  }

  async handle(from: number, data: { sdp?: RTCSessionDescriptionInit; candidate?: RTCIceCandidateInit | null; hangup?: boolean }): Promise<void> {
    if (data.hangup) {
      this.hangup(false);
      return;
    }
    if (data.sdp?.type === 'offer') {
      const peer = this.peer ?? this.connection(from);
      await peer.setRemoteDescription(data.sdp);
      for (const track of (await this.media()).getTracks()) peer.addTrack(track, this.local as MediaStream);
      const answer = await peer.createAnswer();
      await peer.setLocalDescription(answer);
      this.signal(from, { sdp: peer.localDescription?.toJSON() ?? answer });
      await this.flush();
    } else if (data.sdp?.type === 'answer' && this.peer) {
      await this.peer.setRemoteDescription(data.sdp);
      await this.flush();
    } else if (data.candidate && this.peer) {
      if (this.peer.remoteDescription) await this.peer.addIceCandidate(data.candidate);
      else this.pending.push(data.candidate);
    }
  }

  private async flush(): Promise<void> {
    const queued = this.pending;
    this.pending = [];
    for (const candidate of queued) await this.peer?.addIceCandidate(candidate);
  }

  hangup(tell: boolean): void {
    const to = this.other();
    if (tell && to !== null) this.signal(to, { hangup: true });
    this.peer?.close();
    this.peer = null;
    this.pending = [];
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
    this.remoteVideo.srcObject = null;
    this.localVideo.srcObject = null;
    this.element.dataset.remoteLive = 'false';
    this.stateText.textContent = 'No call';
    this.button.textContent = 'Start call';
  }
}

export async function consultRoomPage(ctx: AppContext, route: { consultationId: number }): Promise<Page> {
  const api = new ConsultApi(ctx.api.http);
  let consultation: Consultation;
  let room: RoomInfo;
  try {
    [consultation, room] = await Promise.all([api.get(route.consultationId), api.room(route.consultationId)]);
  } catch (error) {
    if (error instanceof ApiError && (error.isNotFound || error.status === 403)) {
      return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
    }
    return { element: stateError(error), title: 'Error', destroy: () => undefined };
  }
  let socket: WebSocket | null = null;
  let stopped = false;
  let ended = false;
  let presenter = room.presenter;
  let seq = 0;
  const people = new Map<number, Person>();
  const me: Person = { id: ctx.me.id, name: [ctx.me.first_name, ctx.me.last_name].filter(Boolean).join(' ') || ctx.me.username, role: ctx.me.role };

  const send = (message: object): void => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };
  const other = (): number | null => [...people.keys()].find((id) => id !== me.id) ?? null;

  // --- presence -------------------------------------------------------------------------------
  const presence = h('ul', { class: 'room-presence', id: 'room-presence', 'aria-label': 'In the room' });
  const presenterText = h('span', { id: 'room-presenter' });
  const takeButton = h('button', { type: 'button', class: 'btn btn-small', id: 'room-take' }, 'Lead the viewer');
  takeButton.addEventListener('click', () => send({ type: 'presenter.take' }));
  const drawPresence = (): void => {
    replace(presence, ...[me, ...[...people.values()].filter((p) => p.id !== me.id)].map((p) =>
      h('li', { 'data-user': String(p.id), 'data-role': p.role }, p.name, p.id === presenter ? ' (leading)' : '', p.id === me.id ? ' (you)' : '')));
    presenterText.textContent = presenter === me.id ? 'You lead the viewer' : 'Following the presenter';
    viewer.setPresenting(presenter === me.id);
    takeButton.hidden = presenter === me.id;
  };

  // --- viewer ---------------------------------------------------------------------------------
  const viewer = new RoomViewer(ctx.config.viewer.dicomwebRoot, room.series);
  let frame = 0;
  viewer.onLocalChange = (state) => {
    if (presenter !== me.id || frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      send({ type: 'viewer.state', seq: ++seq, state: viewer.state });
    });
    void state;
  };

  // --- messages -------------------------------------------------------------------------------
  const messageList = h('ol', { class: 'room-messages', id: 'room-messages', 'aria-live': 'polite' });
  const shown = new Set<number>();
  let lastId = 0;
  let replyTo: number | null = null;
  const replyNote = h('p', { class: 'small muted', id: 'room-reply-note' });
  const drawMessage = (message: Message): HTMLElement => {
    const reply = h('button', { type: 'button', class: 'btn btn-quiet btn-small' }, 'Reply');
    reply.addEventListener('click', () => {
      replyTo = message.id;
      replyNote.textContent = `Replying to ${message.author_name}`;
      input.focus();
    });
    return h('li', { 'data-message': String(message.id), 'data-author': String(message.author), class: message.parent ? 'reply' : '' },
      h('p', { class: 'small muted' }, `${message.author_name} · ${dateTimeFormat(message.created_at)}`),
      h('p', { class: 'room-message-body' }, message.body),
      message.attachments.length ? h('ul', { class: 'small' }, ...message.attachments.map((a) => h('li', { 'data-attachment': a.kind }, a.label || a.kind))) : null,
      reply);
  };
  let fetching: Promise<void> | null = null;
  const fetchMessages = async (): Promise<void> => {
    if (fetching) return fetching;
    fetching = (async () => {
      try {
        const rows = await api.messages(room.thread, lastId);
        for (const message of rows) {
          lastId = Math.max(lastId, message.id);
          if (shown.has(message.id)) continue;
          shown.add(message.id);
          const parent = message.parent ? messageList.querySelector(`[data-message="${message.parent}"]`) : null;
          const item = drawMessage(message);
          if (parent) parent.after(item);
          else messageList.append(item);
        }
        if (rows.length) void api.markRead(room.thread, lastId).catch(() => undefined);
      } finally {
        fetching = null;
      }
    })();
    return fetching;
  };
  const input = h('textarea', { id: 'room-message-input', rows: 2, 'aria-label': 'Message', maxlength: 10000 });
  const attach = h('input', { type: 'checkbox', id: 'room-attach-image' });
  const sendButton = h('button', { type: 'submit', class: 'btn btn-small btn-primary', id: 'room-message-send' }, 'Send');
  const messageForm = h('form', { class: 'room-message-form' }, replyNote, input,
    h('label', { class: 'small' }, attach, ' Attach the image on show'), sendButton);
  messageForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const ref = attach.checked ? viewer.currentImageRef() : null;
    const key = clientKey();
    sendButton.disabled = true;
    const attempt = (tries: number): Promise<void> => api.send(room.thread, {
      body, client_key: key, parent: replyTo,
      attachments: ref ? [{ kind: 'key_image', ref, label: `Key image, slice ${viewer.state.slice + 1}` }] : [],
    }).then(() => undefined).catch((error: unknown) => {
      // The same key may be sent again safely: the server keeps one message per key.
      if (tries > 0 && error instanceof ApiError && error.status === 0) return attempt(tries - 1);
      throw error;
    });
    void attempt(2).then(() => {
      input.value = '';
      attach.checked = false;
      replyTo = null;
      replyNote.textContent = '';
      return fetchMessages();
    }).catch((error: unknown) => ctx.announce(failureText(error), 'error')).finally(() => { sendButton.disabled = false; });
  });

  // --- AI findings and analysis progress ---------------------------------------------------------
  const findings = new RoomFindingsPanel(ctx.api.http, consultation.id, (text, kind) => ctx.announce(text, kind));

  // --- call -------------------------------------------------------------------------------------
  const call = new RoomCall(room.ice_servers, (to, data) => send({ type: 'rtc.signal', to, data }), other);

  // --- opinion and close ------------------------------------------------------------------------
  const opinionBox = h('section', { class: 'room-opinion', id: 'room-opinion', 'aria-label': 'Opinion' });
  const drawOpinion = (): void => {
    if (consultation.opinion) {
      replace(opinionBox, h('h2', { class: 'panel-title' }, 'Signed opinion'), opinionElement(consultation.opinion));
      return;
    }
    if (consultation.consultant !== me.id) {
      replace(opinionBox, h('h2', { class: 'panel-title' }, 'Opinion'), h('p', { class: 'muted' }, 'The consultant has not signed an opinion yet.'));
      return;
    }
    const answer = h('textarea', { id: 'opinion-answer', rows: 4, required: true, maxlength: 5000 });
    const recs = h('textarea', { id: 'opinion-recommendations', rows: 3 });
    const urgency = h('select', { id: 'opinion-urgency' }, ...(['routine', 'urgent', 'emergency'] as Urgency[]).map((u) => h('option', { value: u }, urgencyLabel(u))));
    const sign = h('button', { type: 'submit', class: 'btn btn-primary', id: 'opinion-sign' }, 'Sign opinion');
    const form = h('form', { class: 'form' },
      h('label', { for: 'opinion-answer' }, 'Answer to the question'), answer,
      h('label', { for: 'opinion-recommendations' }, 'Recommendations (one per line)'), recs,
      h('label', { for: 'opinion-urgency' }, 'Urgency'), urgency, sign);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      sign.disabled = true;
      void api.opinionSign(consultation.id, {
        answer: answer.value, urgency: urgency.value as Urgency,
        recommendations: recs.value.split('\n').map((r) => r.trim()).filter(Boolean),
      }).then((opinion) => {
        consultation = { ...consultation, opinion };
        ctx.announce('Opinion signed.');
        drawOpinion();
      }).catch((error: unknown) => {
        sign.disabled = false;
        ctx.announce(failureText(error), 'error');
      });
    });
    replace(opinionBox, h('h2', { class: 'panel-title' }, 'Your opinion'), form);
  };
  const closeButton = h('button', { type: 'button', class: 'btn btn-small', id: 'room-close' }, 'Close consultation');
  closeButton.addEventListener('click', () => void api.act(consultation.id, 'close').then(() => ctx.announce('Consultation closed.')).catch((e: unknown) => ctx.announce(failureText(e), 'error')));

  const status = h('p', { class: 'room-status small', id: 'room-status', role: 'status' }, 'Connecting…');
  const element = h('div', { class: 'consult-room', 'data-room': 'connecting', 'data-consultation': String(consultation.id) },
    h('div', { class: 'page-head compact' },
      h('p', { class: 'crumb' }, me.role === 'consultant' ? h('a', { href: '/consultations' }, '← Consultations') : h('a', { href: `/patients/${room.patient}` }, '← Patient')),
      h('h1', null, `Consultation: ${consultation.patient_label}`),
      h('p', { class: 'consult-question' }, consultation.question),
      h('p', { class: 'muted small' }, `${urgencyLabel(consultation.urgency)} · ${consultation.identifiable ? 'identifiable' : 'de-identified'} · until ${dateTimeFormat(consultation.expires_at)}`),
      status),
    h('div', { class: 'room-grid' },
      h('div', { class: 'room-main' }, h('div', { class: 'room-bar' }, presenterText, takeButton), viewer.element, findings.element),
      h('aside', { class: 'room-side' },
        h('section', { 'aria-label': 'Participants' }, h('h2', { class: 'panel-title' }, 'In the room'), presence),
        call.element,
        h('section', { 'aria-label': 'Messages' }, h('h2', { class: 'panel-title' }, 'Messages'), messageList, messageForm),
        opinionBox,
        closeButton)));

  const end = (text: string): void => {
    ended = true;
    element.dataset.room = 'ended';
    status.textContent = text;
    call.hangup(false);
    for (const control of element.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLTextAreaElement | HTMLSelectElement>('input, button, textarea, select')) control.disabled = true;
  };

  const onEvent = (event: RoomEvent): void => {
    switch (event.type) {
      case 'viewer.state':
        if (event.from === presenter && event.from !== me.id) {
          viewer.apply(event.state);
          element.dataset.followedSeq = String(event.seq);
        }
        break;
      case 'presenter':
        presenter = event.user_id;
        drawPresence();
        if (presenter === me.id) send({ type: 'viewer.state', seq: ++seq, state: viewer.state });
        break;
      case 'presence.join':
      case 'presence.here':
        people.set(event.user.id, event.user);
        drawPresence();
        if (event.type === 'presence.join' && presenter === me.id) send({ type: 'viewer.state', seq: ++seq, state: viewer.state });
        break;
      case 'presence.leave':
        people.delete(event.user.id);
        drawPresence();
        break;
      case 'rtc.signal':
        void call.handle(event.from, event.data).catch((error: unknown) => console.warn('call signalling failed', error));
        break;
      case 'message.created':
        void fetchMessages();
        break;
      case 'analysis.progress':
      case 'analysis.status':
      case 'report.ready':
      case 'record.changed':
        findings.onEvent(event);
        break;
      case 'consultation.changed':
        if (event.status === 'closed' || event.status === 'declined') end('The consultation has ended.');
        break;
      default:
        break;
    }
  };

  const connect = (): void => {
    const ws = new WebSocket(`${ctx.config.wsRoot}${room.websocket.replace(/^\/ws/, '')}`);
    socket = ws;
    ws.onopen = () => {
      element.dataset.room = 'live';
      status.textContent = 'Live';
      void fetchMessages();
      void findings.load();  // what changed while the socket was down
    };
    ws.onmessage = (message: MessageEvent) => {
      try {
        onEvent(JSON.parse(String(message.data)) as RoomEvent);
      } catch (error) {
        console.warn('room message dropped', error);
      }
    };
    ws.onclose = (close: CloseEvent) => {
      socket = null;
      if (stopped || ended) return;
      if (close.code === 4404 || close.code === 4410 || close.code === 4401) {
        end('The consultation has ended or is no longer shared with you.');
        return;
      }
      element.dataset.room = 'offline';
      status.textContent = 'Reconnecting…';
      people.clear();
      drawPresence();
      setTimeout(() => { if (!stopped) connect(); }, 1000);
    };
  };

  drawPresence();
  drawOpinion();
  void viewer.render();
  connect();
  return {
    element,
    title: 'Consultation room',
    destroy() {
      stopped = true;
      call.hangup(false);
      viewer.destroy();
      socket?.close(1000);
    },
  };
}
