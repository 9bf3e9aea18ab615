/**
 * DICOM Structured Reports (TID 1500 measurement reports) of the study, read from their
 * DICOM JSON metadata and listed beside the images: what a clinician signed, as the PACS
 * holds it. Only what the SR says is shown; nothing is recomputed here.
 */
import { h, replace } from '../lib/dom';
import { type DicomJson, tagString } from './dicomJson';
import type { ViewerModule } from './module';

const SR = {
  contentSequence: '0040A730',
  valueType: '0040A040',
  conceptName: '0040A043',
  codeMeaning: '00080104',
  codeValue: '00080100',
  measuredValue: '0040A300',
  numericValue: '0040A30A',
  units: '004008EA',
  textValue: '0040A160',
  conceptCode: '0040A168',
  personName: '0040A123',
  completion: '0040A491',
  verification: '0040A493',
  contentDate: '00080023',
} as const;

export interface SrItem {
  /** The measurement group (finding) the item belongs to, e.g. "Liver lesion 1". */
  group: string;
  name: string;
  value: string;
}

export interface SrDocument {
  sopUid: string;
  title: string;
  verification: string;
  date: string;
  items: SrItem[];
  comments: string[];
}

function children(item: DicomJson): DicomJson[] {
  return (item[SR.contentSequence]?.Value ?? []) as DicomJson[];
}

function codeMeaning(item: DicomJson, tag: string): string {
  const code = item[tag]?.Value?.[0] as DicomJson | undefined;
  return code ? tagString(code, SR.codeMeaning) : '';
}

function valueOf(item: DicomJson): string | null {
  switch (tagString(item, SR.valueType)) {
    case 'NUM': {
      const measured = item[SR.measuredValue]?.Value?.[0] as DicomJson | undefined;
      if (!measured) return null;
      const unit = measured[SR.units]?.Value?.[0] as DicomJson | undefined;
      const symbol = unit ? tagString(unit, SR.codeValue) : '';
      const number = tagString(measured, SR.numericValue);
      return symbol && symbol !== '1' ? `${number} ${symbol}` : number;
    }
    case 'TEXT':
      return tagString(item, SR.textValue) || null;
    case 'CODE':
      return codeMeaning(item, SR.conceptCode) || null;
    case 'PNAME': {
      const person = item[SR.personName]?.Value?.[0] as { Alphabetic?: string } | undefined;
      return person?.Alphabetic?.replace(/\^/g, ' ').trim() || null;
    }
    default:
      return null;
  }
}

/** A measurement group is named by its tracking identifier (e.g. "Lesion 1") when it has one. */
function containerName(node: DicomJson): string {
  const tracking = children(node).find((child) => /tracking identifier/i.test(codeMeaning(child, SR.conceptName))
    && tagString(child, SR.valueType) === 'TEXT');
  return (tracking && tagString(tracking, SR.textValue)) || codeMeaning(node, SR.conceptName);
}

/** Every value item of one SR, with the name of the container (finding) it sits in. */
export function srDocumentParse(instance: DicomJson): SrDocument {
  const items: SrItem[] = [];
  const comments: string[] = [];
  const walk = (node: DicomJson, group: string): void => {
    for (const child of children(node)) {
      const name = codeMeaning(child, SR.conceptName);
      if (tagString(child, SR.valueType) === 'CONTAINER') {
        walk(child, containerName(child) || group);
        continue;
      }
      // Bookkeeping a reader does not need: identifiers, the document's language, observer kinds.
      if (/tracking (unique )?identifier|^language of content|^observer type/i.test(name)) continue;
      const value = valueOf(child);
      if (value === null) continue;
      if (/comment/i.test(name)) comments.push(value);
      else items.push({ group, name, value });
      walk(child, group);
    }
  };
  walk(instance, '');
  return {
    sopUid: tagString(instance, '00080018'),
    title: codeMeaning(instance, SR.conceptName) || 'Structured report',
    verification: tagString(instance, SR.verification),
    date: tagString(instance, SR.contentDate),
    items,
    comments,
  };
}

function dateText(raw: string): string {
  return /^\d{8}$/.test(raw) ? `${raw.slice(0, 4)}-${raw.slice(4, 6)}-${raw.slice(6, 8)}` : raw;
}

export class SrReportModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor() {
    this.body = h('div', { class: 'sr-body' });
    this.element = h('section', { class: 'panel', id: 'dicom-sr', 'aria-labelledby': 'dicom-sr-title', hidden: true },
      h('header', { class: 'panel-head' }, h('h2', { id: 'dicom-sr-title' }, 'Signed measurement report (DICOM SR)')),
      this.body);
  }

  init(): void {
    this.element.dataset.documents = '0';
  }

  /** The SR documents of the study (none hides the panel). */
  show(documents: readonly SrDocument[]): void {
    this.element.hidden = documents.length === 0;
    this.element.dataset.documents = String(documents.length);
    replace(this.body, ...documents.map((doc) => {
      const groups = new Map<string, SrItem[]>();
      for (const item of doc.items) groups.set(item.group, [...(groups.get(item.group) ?? []), item]);
      return h('article', { class: 'sr-document', 'data-sop': doc.sopUid },
        h('h3', null, doc.title),
        h('p', { class: 'muted' }, [doc.verification && `${doc.verification.toLowerCase()}`, doc.date && dateText(doc.date)]
          .filter(Boolean).join(' · ')),
        ...[...groups.entries()].map(([group, items]) => h('div', { class: 'sr-group' },
          group ? h('h4', null, group) : null,
          h('dl', null, ...items.flatMap((item) => [h('dt', null, item.name), h('dd', null, item.value)])))),
        ...doc.comments.map((comment) => h('p', { class: 'hint' }, comment)));
    }));
  }

  destroy(): void {
    replace(this.body);
  }
}
