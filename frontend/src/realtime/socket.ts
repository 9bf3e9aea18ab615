/**
 * The realtime client for one patient: connects to /ws/patients/{id}/, parses events into the
 * typed union, reconnects with backoff after unexpected closes, and tells its owner when it
 * came back so the owner re-fetches state over REST (events missed while offline are lost).
 */

import type { RealtimeConfig } from '../config';
import { backoffDelay, closeIsFinal } from './backoff';
import { type RealtimeEvent, eventParse } from './events';

export type ConnectionState = 'connecting' | 'live' | 'offline' | 'closed';

export interface PatientChannelHandlers {
  onEvent(event: RealtimeEvent): void;
  /** Called after every successful reconnect (not the first connect). */
  onResync(): void;
  onState?(state: ConnectionState): void;
}

export type SocketFactory = (url: string) => WebSocket;

export class PatientChannel {
  private readonly url: string;
  private readonly config: RealtimeConfig;
  private readonly handlers: PatientChannelHandlers;
  private readonly socketFactory: SocketFactory;
  private socket: WebSocket | null = null;
  private attempt = 0;
  private everConnected = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private readonly onOnline = (): void => this.reconnectNow();
  /** The browser knows the network is gone: do not trust the socket until it is back. */
  private readonly onOffline = (): void => this.dropSocket();

  constructor(
    wsRoot: string,
    patientId: number,
    config: RealtimeConfig,
    handlers: PatientChannelHandlers,
    socketFactory: SocketFactory = (url) => new WebSocket(url),
  ) {
    this.url = `${wsRoot}/patients/${patientId}/`;
    this.config = config;
    this.handlers = handlers;
    this.socketFactory = socketFactory;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onopen = null;
      socket.close(1000);
    }
    this.handlers.onState?.('closed');
  }

  private connect(): void {
    if (this.stopped) return;
    this.handlers.onState?.('connecting');
    const socket = this.socketFactory(this.url);
    this.socket = socket;
    socket.onopen = () => {
      const wasReconnect = this.everConnected;
      this.everConnected = true;
      this.attempt = 0;
      this.handlers.onState?.('live');
      if (wasReconnect) this.handlers.onResync();
    };
    socket.onmessage = (message: MessageEvent) => {
      const event = eventParse(typeof message.data === 'string' ? message.data : null);
      if (event) this.handlers.onEvent(event);
    };
    socket.onclose = (close: CloseEvent) => {
      this.socket = null;
      if (this.stopped) return;
      if (closeIsFinal(close.code)) {
        this.stopped = true;
        this.handlers.onState?.('closed');
        return;
      }
      this.handlers.onState?.('offline');
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const delay = backoffDelay(
      { initialMs: this.config.initialBackoffMs, maxMs: this.config.maxBackoffMs },
      this.attempt,
      Math.random(),
    );
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private dropSocket(): void {
    const socket = this.socket;
    if (this.stopped || !socket) return;
    this.socket = null;
    socket.onclose = null;
    socket.onmessage = null;
    socket.close(4000);
    this.handlers.onState?.('offline');
    this.schedule();
  }

  private reconnectNow(): void {
    if (this.stopped || this.socket) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }
}
