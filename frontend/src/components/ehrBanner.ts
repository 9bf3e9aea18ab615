/**
 * The EHR context banner: a session opened by a SMART launch from the EHR shows, on every
 * page, which EHR patient it is linked to (the server keeps the session on that patient).
 * Mounted above the application root so page changes never remove it.
 */

import { h } from '../lib/dom';
import './ehrBanner.css';

export interface EhrContext {
  readonly linked: boolean;
  readonly patient_id?: number;
  readonly ehr_name?: string;
  readonly ehr_patient?: string;
  readonly ehr_patient_name?: string;
  readonly ehr_mrn?: string;
}

export function ehrBannerElement(context: EhrContext): HTMLElement | null {
  if (!context.linked) return null;
  const who = [context.ehr_patient_name, context.ehr_mrn ? `MRN ${context.ehr_mrn}` : '']
    .filter(Boolean).join(', ');
  return h('aside', { class: 'ehr-banner', id: 'ehr-banner', 'aria-label': 'EHR context' },
    h('strong', null, `Linked to EHR patient ${who || context.ehr_patient || ''}`),
    h('span', null, `${context.ehr_patient ?? ''}${context.ehr_name ? ` in ${context.ehr_name}` : ''}.`),
    h('span', null, 'This session shows this patient only.'),
  );
}

export async function ehrBannerMount(root: HTMLElement, fetcher: typeof fetch = fetch): Promise<void> {
  let context: EhrContext;
  try {
    const response = await fetcher('/smart/context', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    context = (await response.json()) as EhrContext;
  } catch {
    return; // no banner is the right answer when the context cannot be read
  }
  const banner = ehrBannerElement(context);
  if (banner && root.parentElement && !document.getElementById('ehr-banner')) {
    root.parentElement.insertBefore(banner, root);
  }
}
