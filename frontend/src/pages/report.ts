/**
 * A report version as the clinical document the PDF prints (the server lays it out:
 * inference/reports/presentation.py): header with the patient and who requested and signed,
 * imaging findings with lesion rows that open the viewer at the lesion, scores with their
 * interpretation, recommendations with evidence, models and provenance; then sign-off.
 *
 * The element with id "finding-review" is where the review of AI findings mounts.
 */

import { type AppContext, type Page, canEdit } from '../app';
import { ApiError, errorText } from '../api/errors';
import type { Report, ReportSummary } from '../api/types';
import { formError, formShowErrors, textareaField } from '../components/form';
import { reportCurrency } from '../components/analyses';
import { FindingReview } from '../components/findingReview';
import { releaseArea, srArea } from '../components/reportLifecycle';
import { stateEmpty, stateError, stateFor, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import {
  type DocHeatmap, type DocImaging, type DocRow, type ReportDocument, asArray, asRecord, asText, documentParse,
} from '../lib/report';
import { type Route, routeHref } from '../lib/routes';
import { notFoundElement } from './patient';
import './report.css';

function section(id: string, title: string, ...children: (HTMLElement | null)[]): HTMLElement {
  return h('section', { class: 'report-section', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title),
    ...children);
}

function rowsTable(caption: string | null, rows: readonly DocRow[], headings?: readonly [string, string]): HTMLElement {
  return h('table', { class: 'table compact doc-table' },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    headings ? h('thead', null, h('tr', null, h('th', { scope: 'col' }, headings[0]), h('th', { scope: 'col' }, headings[1]))) : null,
    h('tbody', null, ...rows.map((r) => h('tr', null, h('th', { scope: 'row' }, r.label), h('td', null, r.value)))));
}

function docHeader(doc: ReportDocument): HTMLElement {
  const hd = doc.header;
  const fact = (label: string, value: string, key: string): HTMLElement =>
    h('div', { class: 'doc-fact', 'data-fact': key }, h('dt', null, label), h('dd', null, value || '—'));
  return h('dl', { class: 'doc-header', id: 'report-header' },
    fact('Patient', hd.patient_name, 'patient'),
    fact('MRN', hd.mrn, 'mrn'),
    fact('Date of birth', hd.age && hd.age !== '—' ? `${hd.birth_date} (${hd.age})` : hd.birth_date, 'birth-date'),
    fact('Sex', hd.sex, 'sex'),
    fact('Requested by', hd.requester, 'requester'),
    fact('Requested', hd.requested_at, 'requested'),
    fact('Created', hd.created_at, 'created'),
    fact('State', hd.state_label, 'state'),
    fact('Signed by', hd.signer || 'not signed', 'signer'),
    fact('Signed', hd.signed_at, 'signed'),
    fact('Released to the patient', hd.released_at || 'not released', 'released'),
  );
}

function imagingBlock(block: DocImaging): HTMLElement {
  return h('article', { class: 'finding', 'data-series': block.series_uid },
    h('h3', null, block.title),
    h('p', { class: 'muted small' }, [block.study, block.model ? `Model: ${block.model}` : ''].filter(Boolean).join(' · ')),
    block.summary.length ? rowsTable('Measurements', block.summary) : null,
    block.lesions.length ? h('table', { class: 'table compact lesions' },
      h('caption', null, `Focal liver lesions (${block.lesions.length})`),
      h('thead', null, h('tr', null, ...['#', 'Longest diameter', 'Volume', 'Mean attenuation', 'Images', 'Confidence', 'Review']
        .map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', null, ...block.lesions.map((lesion) => h('tr', { class: 'lesion-row', 'data-lesion': String(lesion.number) },
        h('th', { scope: 'row' }, String(lesion.number)),
        h('td', null, lesion.diameter), h('td', null, lesion.volume), h('td', null, lesion.density),
        h('td', null, lesion.viewer_href
          ? h('a', { href: lesion.viewer_href, class: 'lesion-open', title: `Open lesion ${lesion.number} in the viewer` }, lesion.slices)
          : lesion.slices),
        h('td', null, lesion.confidence), h('td', null, lesion.review || '—'))))) : null,
    ...block.notes.map((note) => h('p', { class: 'hint' }, note)),
    block.predictions.length ? rowsTable('Image findings', block.predictions, ['Finding', 'Result']) : null,
    ...block.heatmaps.map(heatmapFigure),
  );
}

/** The model's heatmap as a key image beside the probability it explains, with the card's caveat. */
function heatmapFigure(heatmap: DocHeatmap): HTMLElement {
  return h('figure', { class: 'report-heatmap', 'data-heatmap': String(heatmap.number) },
    h('img', { src: heatmap.image, alt: `Heatmap of image ${heatmap.number}: where the model looked`, width: 192, height: 192, class: 'report-heatmap-image' }),
    h('figcaption', null,
      h('strong', null, `Heatmap, image ${heatmap.number}`),
      h('span', { class: 'report-heatmap-result' }, heatmap.result),
      h('span', { class: 'report-heatmap-caveat' }, `${heatmap.caveat} Red: where the model looked most; blue: least.`),
      heatmap.viewer_href ? h('a', { href: heatmap.viewer_href, class: 'report-heatmap-open' }, 'Open the image in the viewer') : null));
}

function findingsSection(doc: ReportDocument): HTMLElement {
  return section('report-findings', '1. Imaging findings',
    ...(doc.imaging.length ? doc.imaging.map(imagingBlock) : [stateEmpty('No imaging was analysed for this report.')]),
    doc.staging.length ? h('div', { class: 'staging' }, h('h3', null, 'Staging'), rowsTable('Staging', doc.staging)) : null,
  );
}

function scoresSection(doc: ReportDocument): HTMLElement {
  return section('report-scores', '2. Scores',
    doc.scores.length ? h('ul', { class: 'score-lines' }, ...doc.scores.map((s) => h('li', { class: 'score-line', 'data-score': s.score },
      h('span', { class: 'score-name' }, s.name),
      h('span', { class: 'score-value' }, s.value),
      h('span', { class: 'score-meaning' }, s.interpretation),
      h('span', { class: 'score-inputs' }, s.inputs ? `Based on: ${s.inputs}` : ''))))
      : stateEmpty('No score could be computed from the record.'),
    doc.not_computed.length ? h('p', { class: 'not-computed hint', id: 'report-not-computed' },
      'Not computed: ', doc.not_computed.map((r) => `${r.label} (${r.value})`).join('; '), '.') : null,
    doc.labs.length ? h('div', null, h('h3', null, 'Laboratory values used'), rowsTable('Laboratory values used', doc.labs, ['Test', 'Value (date)'])) : null,
    doc.learned.length ? h('div', { class: 'learned-models' }, h('h3', null, 'Cohort models'),
      ...doc.learned.map((m) => h('div', { class: 'learned', 'data-applicable': String(m.applicable) },
        h('p', null, h('strong', null, m.name), m.version ? ` (v${m.version})` : '', `: ${m.result}`),
        m.drivers.length ? h('ul', { class: 'drivers' }, ...m.drivers.map((d) => h('li', null, d))) : null,
        ...m.notes.map((n) => h('p', { class: 'hint' }, n))))) : null,
    doc.modifiers.length ? h('div', null, h('h3', null, 'Genetic and lifestyle modifiers'),
      h('ul', null, ...doc.modifiers.map((r) => h('li', null, h('strong', null, r.label), `: ${r.value}`)))) : null,
  );
}

function secondOpinionSection(doc: ReportDocument): HTMLElement | null {
  if (!doc.second_opinions.length) return null;
  return section('report-second-opinion', 'Second opinion', ...doc.second_opinions.map((o) => h('div', { class: 'opinion' },
    h('p', { class: 'small muted' }, `${o.author}${o.urgency ? ` · ${o.urgency}` : ''} · signed ${o.signed_at}`),
    h('p', { class: 'opinion-answer' }, o.answer),
    o.recommendations.length ? h('ul', null, ...o.recommendations.map((r) => h('li', null, r))) : null)));
}

function recommendationsSection(doc: ReportDocument): HTMLElement {
  return section('report-recommendations', '3. Recommendations',
    doc.recommendations.length ? h('ol', { class: 'recommendations' }, ...doc.recommendations.map((r) => h('li', { class: 'recommendation' },
      h('h3', null, r.title),
      h('p', null, r.statement),
      r.evidence.length ? h('div', { class: 'evidence' }, h('strong', null, 'Evidence: '), h('ul', null, ...r.evidence.map((e) => h('li', null, e)))) : null,
      r.reference ? h('p', { class: 'citation' }, r.reference) : null)))
      : stateEmpty('No recommendation.'),
    doc.gaps.length ? h('div', { class: 'gaps' }, h('h3', null, 'Information that would complete this report'),
      h('ul', null, ...doc.gaps.map((g) => h('li', null, g)))) : null,
  );
}

function modelsSection(doc: ReportDocument): HTMLElement {
  return section('report-models', '4. Models and provenance',
    doc.models.length ? h('table', { class: 'table compact models' },
      h('thead', null, h('tr', null, ...['Model', 'Type', 'Version', 'Inputs', 'Weights SHA-256'].map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', null, ...doc.models.map((m) => h('tr', null, h('th', { scope: 'row' }, m.name), h('td', null, m.kind),
        h('td', null, m.version || '—'), h('td', null, m.inputs), h('td', { class: 'mono hash' }, m.weights_sha256)))))
      : h('p', { class: 'muted' }, 'No model was used (validated scores only).'),
    h('dl', { class: 'facts provenance' }, ...doc.provenance.flatMap((r) => [
      h('dt', null, r.label), h('dd', { class: /SHA-256|Code version/.test(r.label) ? 'mono hash' : '' }, r.value)])),
  );
}

/** What a patient account is answered with: the plain patient version of a released report. */
function patientVersion(report: Report): HTMLElement {
  const view = asRecord(report as unknown);
  const lines = (key: string): string[] => asArray(view[key]).map(asText);
  return h('article', { class: 'report-doc patient-version' },
    lines('findings').length ? section('report-findings', 'What your scan showed', h('ul', null, ...lines('findings').map((l) => h('li', null, l)))) : null,
    asArray(view.scores).length ? section('report-scores', 'Your results', h('ul', null, ...asArray(view.scores).map((raw) => {
      const s = asRecord(raw);
      return h('li', null, h('strong', null, asText(s.name)), `: ${asText(s.value)}${s.category ? ` (${asText(s.category)})` : ''}${s.about ? ` — ${asText(s.about)}` : ''}`);
    }))) : null,
    lines('advice').length ? section('report-recommendations', 'What this means', ...lines('advice').map((l) => h('p', null, l))) : null,
    h('p', { class: 'intended-use', id: 'intended-use' }, asText(view.about)),
  );
}

export async function reportPage(ctx: AppContext, route: Route): Promise<Page> {
  if (route.name !== 'report') throw new Error('wrong route');
  let report: Report;
  try {
    report = await ctx.api.reportGet(route.reportId);
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound) return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
    return { element: stateFor(error, 'Reports'), title: 'Report', destroy: () => undefined };
  }
  const doc = documentParse(asRecord(report as unknown).document);
  const signArea = h('div', { class: 'sign-area' });
  const versions = h('div', { class: 'versions' }, stateLoading());
  const statusBadge = h('span', { class: `badge badge-${report.status}`, id: 'report-status' }, report.status === 'final' ? 'signed' : report.status);
  // Accept, edit or reject each AI finding; a decision makes a new draft version, shown next.
  const review = report.analysis && ctx.me.role !== 'patient'
    ? new FindingReview({
      api: ctx.api, reportId: report.id, canDecide: canEdit(ctx.me), announce: ctx.announce,
      onDecided: (result) => { if (result.report) ctx.navigate(routeHref({ name: 'report', reportId: result.report.id })); },
    })
    : null;
  if (review) void review.load();

  const drawSign = (): void => {
    if (report.signed_at) {
      replace(signArea, h('p', { class: 'signed', id: 'report-signed' }, doc?.signature || `Signed ${dateTimeFormat(report.signed_at)}`,
        !doc && report.sign_comment ? h('span', null, ` — “${report.sign_comment}”`) : null));
      return;
    }
    if (!canEdit(ctx.me) || report.status !== 'draft') {
      replace(signArea, h('p', { class: 'muted' }, 'Not signed yet.'));
      return;
    }
    if (report.sign_blocker) {
      replace(signArea, h('p', { class: 'sign-blocked', id: 'sign-blocked', 'data-code': report.sign_blocker.code }, report.sign_blocker.message));
      return;
    }
    const form = h('form', { class: 'form sign-form', novalidate: true },
      formError(),
      textareaField({ name: 'comment', label: 'Sign-off comment (optional)', rows: 2 }),
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'sign-submit' }, 'Sign off report'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const comment = (form.elements.namedItem('comment') as HTMLTextAreaElement).value.trim();
      const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
      if (button) button.disabled = true;
      ctx.api.reportSign(report.id, comment).then(() => {
        ctx.announce('Report signed.');
        // Drawn again from the server: the header, the state and the signature all change.
        ctx.navigate(routeHref({ name: 'report', reportId: report.id }), { replace: true });
      }).catch((error: unknown) => {
        if (button) button.disabled = false;
        formShowErrors(form, { fields: {}, general: error instanceof ApiError ? errorText(error) : 'Could not sign.' });
      });
    });
    replace(signArea, form);
  };
  drawSign();

  // An amendment never edits this version: the server makes a new one that supersedes it.
  const amendArea = h('div', { class: 'amend-area' });
  if (canEdit(ctx.me) && report.status === 'final') {
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      textareaField({ name: 'text', label: 'Amendment', rows: 3, hint: `Creates version ${report.version + 1}; this version stays as it is.` }),
      h('button', { type: 'submit', class: 'btn', id: 'amend-submit' }, 'Create amended version'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = (form.elements.namedItem('text') as HTMLTextAreaElement).value.trim();
      if (!text) {
        formShowErrors(form, { fields: { text: 'Write what changes.' }, general: null });
        return;
      }
      ctx.api.reportAmend(report.id, text).then((amended) => {
        ctx.announce(`Version ${amended.version} created.`);
        ctx.navigate(routeHref({ name: 'report', reportId: amended.id }));
      }).catch((error: unknown) => {
        formShowErrors(form, { fields: {}, general: error instanceof ApiError ? errorText(error) : 'Could not amend.' });
      });
    });
    amendArea.appendChild(h('details', null, h('summary', null, 'Amend this report'), form));
  }

  if (ctx.me.role !== 'patient') {
    void ctx.api.reports(report.patient).then((all: ReportSummary[]) => {
      replace(versions, h('ul', { class: 'report-list' }, ...all.map((r) => h('li', null,
        r.id === report.id ? h('strong', { 'aria-current': 'page' }, `v${r.version} (this version)`) : h('a', { href: routeHref({ name: 'report', reportId: r.id }) }, `v${r.version}`),
        ' ', reportCurrency(r, all),
        h('span', { class: 'muted' }, [
          ` · created ${dateTimeFormat(r.created_at)}${r.requested_by_name ? ` (requested by ${r.requested_by_name})` : ''}`,
          r.signed_at ? ` · signed ${dateTimeFormat(r.signed_at)}${r.signed_by_name ? ` by ${r.signed_by_name}` : ''}` : '',
        ].join(''))))));
    }).catch((error: unknown) => replace(versions, stateError(error)));
  }

  const title = doc ? doc.header.title : 'Report';
  const body = doc
    ? h('article', { class: 'report-doc', 'aria-label': title },
      docHeader(doc),
      doc.warnings.length ? h('ul', { class: 'doc-warnings', role: 'alert' }, ...doc.warnings.map((w) => h('li', null, w))) : null,
      doc.header.amendment ? h('p', { class: 'amendment' }, doc.header.amendment) : null,
      // The review of AI findings (accept, edit, reject) mounts here.
      h('div', { id: 'finding-review', class: 'finding-review-mount' }, review?.element ?? null),
      findingsSection(doc),
      scoresSection(doc),
      recommendationsSection(doc),
      secondOpinionSection(doc),
      modelsSection(doc),
      section('report-signoff', 'Sign-off', signArea,
        releaseArea(report, { api: ctx.api, canRelease: canEdit(ctx.me), announce: ctx.announce }),
        srArea(report, ctx.api.reportExportUrl(report.id, 'dcm')), amendArea),
      h('p', { class: 'intended-use', id: 'intended-use' }, h('strong', null, 'Intended use. '), doc.intended_use),
    )
    : patientVersion(report);
  const element = h('div', { class: 'report-page', 'data-report': String(report.id) },
    h('div', { class: 'page-head' },
      h('div', null,
        h('p', { class: 'crumb' }, h('a', { href: ctx.me.role === 'patient' ? routeHref({ name: 'dashboard' }) : routeHref({ name: 'patient', patientId: report.patient }) }, '← Patient')),
        h('h1', null, `Report v${report.version} `, statusBadge),
        h('p', { class: 'muted' }, doc ? `${title} · ${doc.header.patient_name} · MRN ${doc.header.mrn}` : title)),
      h('div', { class: 'report-actions' },
        h('a', { class: 'btn', href: ctx.api.reportExportUrl(report.id, 'pdf'), download: `report-${report.id}-v${report.version}.pdf`, id: 'report-pdf', 'data-native': '' }, 'Download PDF'),
        h('a', { class: 'btn btn-quiet', href: ctx.api.reportExportUrl(report.id, 'html'), 'data-native': '', target: '_blank', rel: 'noopener', id: 'report-print' }, 'Print view'),
        ctx.me.role !== 'patient' ? h('a', { class: 'btn btn-quiet', href: ctx.api.reportExportUrl(report.id, 'fhir'), 'data-native': '', target: '_blank', rel: 'noopener' }, 'FHIR') : null,
      ),
    ),
    body,
    ctx.me.role !== 'patient' ? section('report-versions', 'Versions', versions) : null,
  );
  return { element, title: `Report v${report.version}`, destroy: () => review?.destroy() };
}
