/** A report version: findings, scores with explanations, recommendations, models, sign-off. */

import { type AppContext, type Page, canEdit } from '../app';
import { ApiError, errorText } from '../api/errors';
import type { Report, ReportSummary, ScoreResult } from '../api/types';
import { formError, formShowErrors, textareaField } from '../components/form';
import { reportCurrency } from '../components/analyses';
import { scoresRender } from '../components/scores';
import { stateEmpty, stateError, stateFor, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { type Contribution, asArray, asRecord, asText, contributionsParse, measureText, modelsParse } from '../lib/report';
import { type Route, routeHref } from '../lib/routes';
import { scoreName } from '../lib/scores';
import { notFoundElement } from './patient';

export function contributionChart(title: string, contributions: readonly Contribution[]): HTMLElement {
  const top = contributions.slice(0, 10);
  const max = Math.max(...top.map((c) => Math.abs(c.value)), 1e-9);
  return h('figure', { class: 'contrib' },
    h('figcaption', null, title),
    h('table', { class: 'contrib-table' },
      h('thead', { class: 'visually-hidden' }, h('tr', null, h('th', { scope: 'col' }, 'Feature'), h('th', { scope: 'col' }, 'Contribution'))),
      h('tbody', null, ...top.map((c) => {
        const width = `${(Math.abs(c.value) / max) * 50}%`;
        const bar = h('span', { class: `contrib-bar ${c.value >= 0 ? 'up' : 'down'}` });
        bar.style.width = width;
        return h('tr', null,
          h('th', { scope: 'row' }, c.feature.replace(/_/g, ' ')),
          h('td', null, h('span', { class: 'contrib-track' }, bar),
            h('span', { class: 'contrib-value' }, `${c.value >= 0 ? '+' : ''}${c.value.toFixed(3)}`)));
      })),
    ),
    h('p', { class: 'hint' }, 'Bars to the right raise the estimate, to the left lower it (model log-odds scale).'),
  );
}

function evidenceText(item: unknown): string {
  const e = asRecord(item);
  if (e.kind === 'score') return `${scoreName(asText(e.id))} ${asText(e.value)}${e.category ? ` (${asText(e.category)})` : ''}`;
  const parts = Object.entries(e).filter(([k]) => k !== 'kind').map(([k, v]) => `${k.replace(/_/g, ' ')}: ${asText(v)}`);
  return `${e.kind ? `${asText(e.kind)} — ` : ''}${parts.join(', ')}`;
}

function section(id: string, title: string, ...children: (HTMLElement | null)[]): HTMLElement {
  return h('section', { class: 'card card-wide report-section', id, 'aria-labelledby': `${id}-title` },
    h('header', { class: 'card-head' }, h('h2', { id: `${id}-title` }, title)),
    h('div', { class: 'card-body' }, ...children));
}

function findingsSection(content: Record<string, unknown>): HTMLElement {
  const imaging = asArray(content.imaging_findings);
  const staging = asRecord(content.staging);
  const blocks: HTMLElement[] = [];
  for (const raw of imaging) {
    const finding = asRecord(raw);
    const model = asRecord(finding.model);
    const body = asRecord(finding.findings);
    const lesions = asArray(body.lesions);
    const predictions = asArray(body.predictions);
    const liver = asRecord(body.liver);
    const measures: [string, unknown][] = [
      ...Object.entries(body).filter(([, v]) => typeof v === 'number' || typeof v === 'string'),
      ...(Object.keys(liver).length ? [['liver volume', liver.volume], ['liver density', liver.mean_density]] as [string, unknown][] : []),
    ];
    blocks.push(h('article', { class: 'finding' },
      h('h3', null, `${asText(finding.kind) || 'imaging'} · ${asText(model.key) || 'model'}`,
        finding.series_uid ? h('span', { class: 'muted mono' }, ` series ${asText(finding.series_uid)}`) : null),
      measures.length ? h('dl', { class: 'facts' }, ...measures.flatMap(([k, v]) => [h('dt', null, k.replace(/_/g, ' ')), h('dd', null, measureText(v))])) : null,
      lesions.length ? h('table', { class: 'table compact' },
        h('caption', null, `${lesions.length} lesion(s)`),
        h('tbody', null, ...lesions.map((l, i) => h('tr', null, h('th', { scope: 'row' }, `#${i + 1}`),
          h('td', null, Object.entries(asRecord(l)).filter(([k]) => k !== 'id').map(([k, v]) => `${k.replace(/_/g, ' ')} ${measureText(v)}`).join(' · '))))))
        : null,
      predictions.length ? h('ul', null, ...predictions.map((p) => {
        const pr = asRecord(p);
        return h('li', null, `${asText(pr.label ?? pr.class ?? 'prediction')}: ${asText(pr.probability ?? pr.score ?? pr.value)}`);
      })) : null,
    ));
  }
  if (Object.keys(staging).length) {
    blocks.push(h('article', { class: 'finding' }, h('h3', null, 'Staging'),
      h('dl', { class: 'facts' }, ...Object.entries(staging).flatMap(([k, v]) => [h('dt', null, k.replace(/_/g, ' ')), h('dd', null, typeof v === 'object' ? asText(asRecord(v).stage ?? asRecord(v).value ?? v) : asText(v))]))));
  }
  return section('report-findings', 'Findings', ...(blocks.length ? blocks : [stateEmpty('No imaging findings in this report.')]));
}

function scoresSection(content: Record<string, unknown>): HTMLElement {
  const scores = asRecord(content.scores) as Record<string, ScoreResult>;
  const body = h('div');
  scoresRender({ scores, modifiers: asArray(content.modifiers) as never }, body);
  const explanations: HTMLElement[] = [];
  const learned = asArray(content.learned_risk);
  if (learned.length) explanations.push(h('h3', null, 'Learned cohort models'));
  learned.forEach((raw, index) => {
    const model = asRecord(raw);
    const name = asText(model.key ?? model.name ?? `model ${index + 1}`).replace(/_/g, ' ');
    const block = h('div', { class: 'learned', 'data-model': asText(model.key) });
    if (model.applicable === false) {
      const missing = asArray(model.missing).map(asText);
      block.append(h('p', null, h('strong', null, name), ': not applicable', missing.length ? ` (missing ${missing.join(', ')})` : ''));
    } else {
      const probabilities = Object.entries(asRecord(model.probabilities));
      block.append(h('p', null, h('strong', null, name), probabilities.length
        ? `: ${probabilities.map(([label, p]) => `${label.replace(/_/g, ' ')} ${(Number(p) * 100).toFixed(1)}%`).join(' · ')}`
        : ''));
      const contributions = contributionsParse(model.contributions);
      if (contributions.length) block.append(contributionChart(`What drove the ${name} estimate`, contributions));
      const imputed = asArray(model.imputed).map(asText);
      if (imputed.length) block.append(h('p', { class: 'hint' }, `Imputed by the model: ${imputed.join(', ')}.`));
      if (model.note) block.append(h('p', { class: 'hint' }, asText(model.note)));
    }
    explanations.push(block);
  });
  return section('report-scores', 'Scores and explanations', body, ...explanations);
}

function recommendationsSection(content: Record<string, unknown>): HTMLElement {
  const recommendations = asArray(content.recommendations);
  const gaps = asArray(content.gaps);
  return section('report-recommendations', 'Recommendations',
    recommendations.length ? h('ol', { class: 'recommendations' }, ...recommendations.map((raw) => {
      const r = asRecord(raw);
      const evidence = asArray(r.evidence);
      return h('li', { class: 'recommendation', 'data-domain': asText(r.domain) },
        h('h3', null, asText(r.title)),
        h('p', null, asText(r.statement)),
        evidence.length ? h('div', { class: 'evidence' }, h('strong', null, 'Evidence: '), h('ul', null, ...evidence.map((e) => h('li', null, evidenceText(e))))) : null,
        r.citation ? h('p', { class: 'citation' }, asText(r.citation), r.guideline_version ? ` — version ${asText(r.guideline_version)}` : '') : null);
    })) : stateEmpty('No recommendations.'),
    gaps.length ? h('div', { class: 'gaps' }, h('h3', null, 'What is missing'),
      h('ul', null, ...gaps.map((g) => h('li', null, asText(asRecord(g).message))))) : null,
  );
}

function modelsSection(content: Record<string, unknown>, report: Report): HTMLElement {
  const models = [...modelsParse(content.models), ...modelsParse(asArray(content.learned_risk))];
  return section('report-models', 'Models and provenance',
    models.length ? h('table', { class: 'table compact' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Weights SHA-256'))),
      h('tbody', null, ...models.map((m) => h('tr', null, h('th', { scope: 'row' }, m.key), h('td', null, m.version || '—'),
        h('td', { class: 'mono hash' }, m.sha256 ?? '—')))))
      : h('p', { class: 'muted' }, 'No imaging model was used (risk scores only).'),
    h('dl', { class: 'facts' },
      h('dt', null, 'Code version'), h('dd', { class: 'mono' }, asText(content.code_version) || '—'),
      h('dt', null, 'Content SHA-256'), h('dd', { class: 'mono hash' }, report.content_sha256),
      h('dt', null, 'Integrity'), h('dd', null, report.integrity_ok ? '✓ content matches its hash' : '✗ content does not match its hash'),
      h('dt', null, 'Generated'), h('dd', null, dateTimeFormat(asText(content.generated_at) || report.created_at)),
    ),
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
  const content = asRecord(report.content);
  const signArea = h('div', { class: 'sign-area' });
  const versions = h('div', { class: 'versions' }, stateLoading());
  const statusBadge = h('span', { class: `badge badge-${report.signed_at ? 'final' : report.status}`, id: 'report-status' }, report.signed_at ? 'signed' : report.status);

  const drawSign = (): void => {
    if (report.signed_at) {
      replace(signArea, h('p', { class: 'signed', id: 'report-signed' }, `Signed ${dateTimeFormat(report.signed_at)}`,
        report.sign_comment ? h('span', null, ` — “${report.sign_comment}”`) : null));
      return;
    }
    if (!canEdit(ctx.me) || report.status === 'amended') {
      replace(signArea, h('p', { class: 'muted' }, 'Not signed yet.'));
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
      ctx.api.reportSign(report.id, comment).then((signed) => {
        report = signed;
        statusBadge.textContent = 'signed';
        statusBadge.className = 'badge badge-final';
        ctx.announce('Report signed.');
        drawSign();

  // An amendment never edits this version: the server makes a new one that supersedes it.
  const amendArea = h('div', { class: 'amend-area' });
  if (canEdit(ctx.me) && report.status !== 'amended') {
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      textareaField({ name: 'text', label: 'Amendment', rows: 3, hint: 'Creates version ' + String(report.version + 1) + '; this version stays as it is.' }),
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
  if (canEdit(ctx.me) && report.status !== 'amended') {
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      textareaField({ name: 'text', label: 'Amendment', rows: 3, hint: 'Creates version ' + String(report.version + 1) + '; this version stays as it is.' }),
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

  void ctx.api.reports(report.patient).then((all: ReportSummary[]) => {
    replace(versions, h('ul', { class: 'report-list' }, ...all.map((r) => h('li', null,
      r.id === report.id ? h('strong', { 'aria-current': 'page' }, `v${r.version} (this version)`) : h('a', { href: routeHref({ name: 'report', reportId: r.id }) }, `v${r.version}`),
      ' ', reportCurrency(r, all),
      h('span', { class: 'muted' }, ` · ${r.signed_at ? 'signed' : r.status} · ${dateTimeFormat(r.created_at)}`)))));
  }).catch((error: unknown) => replace(versions, stateError(error)));

  const amendment = asRecord(content.amendment);
  const element = h('div', { class: 'report-page', 'data-report': String(report.id) },
    h('div', { class: 'page-head' },
      h('div', null,
        h('p', { class: 'crumb' }, h('a', { href: ctx.me.role === 'patient' ? routeHref({ name: 'dashboard' }) : routeHref({ name: 'patient', patientId: report.patient }) }, '← Patient')),
        h('h1', null, `Report v${report.version} `, statusBadge),
        h('p', { class: 'muted' }, `Created ${dateTimeFormat(report.created_at)} · analysis #${report.request ?? '—'}`)),
      h('div', { class: 'report-actions' },
        h('a', { class: 'btn', href: ctx.api.reportExportUrl(report.id, 'pdf'), download: `report-${report.id}-v${report.version}.pdf`, id: 'report-pdf', 'data-native': '' }, 'Download PDF'),
        h('a', { class: 'btn btn-quiet', href: ctx.api.reportExportUrl(report.id, 'fhir'), 'data-native': '', target: '_blank', rel: 'noopener' }, 'FHIR'),
      ),
    ),
    h('p', { class: 'intended-use', id: 'intended-use' }, h('strong', null, 'Intended use. '), asText(content.intended_use) || 'Results support, and do not replace, a clinician\'s judgement.'),
    Object.keys(amendment).length ? h('p', { class: 'amendment' }, h('strong', null, `Amends v${asText(amendment.of_version)}: `), asText(amendment.text)) : null,
    h('div', { class: 'grid' },
      findingsSection(content),
      scoresSection(content),
      recommendationsSection(content),
      modelsSection(content, report),
      section('report-signoff', 'Sign-off', signArea, amendArea),
      section('report-versions', 'Versions', versions),
    ),
  );
  return { element, title: `Report v${report.version}`, destroy: () => undefined };
}
