/** Names and plain-language explanations of the validated scores the server computes. Pure. */

export interface ScoreInfo {
  readonly name: string;
  readonly about: string;
  /** For the patient dashboard: what the score tells, in plain words. */
  readonly plain: string;
  readonly group: 'liver' | 'cancer' | 'lung';
  /** Word put before a bare category ("2" -> "grade 2"). */
  readonly categoryWord?: string;
}

export const SCORE_INFO: Readonly<Record<string, ScoreInfo>> = {
  meld: { name: 'MELD', group: 'liver', about: 'Model for End-stage Liver Disease (UNOS)', plain: 'How severe long-term liver disease is, from blood tests.' },
  meld_na: { name: 'MELD-Na', group: 'liver', about: 'MELD with sodium (OPTN 2016)', plain: 'How severe long-term liver disease is, from blood tests including sodium.' },
  meld_3: { name: 'MELD 3.0', group: 'liver', about: 'MELD 3.0 (Kim 2021)', plain: 'An updated measure of liver disease severity from blood tests.' },
  child_pugh: { name: 'Child-Pugh', group: 'liver', categoryWord: 'class', about: 'Child-Turcotte-Pugh class', plain: 'How well the liver is working, from blood tests and examination.' },
  albi: { name: 'ALBI', group: 'liver', categoryWord: 'grade', about: 'Albumin-bilirubin grade', plain: 'How well the liver is working, from two blood tests.' },
  fib4: { name: 'FIB-4', group: 'liver', about: 'Fibrosis-4 index', plain: 'The chance of scarring (fibrosis) in the liver.' },
  apri: { name: 'APRI', group: 'liver', about: 'AST to platelet ratio index', plain: 'Another estimate of scarring (fibrosis) in the liver.' },
  amap: { name: 'aMAP', group: 'cancer', about: 'aMAP liver cancer risk score', plain: 'The risk of developing liver cancer in the next few years.' },
  galad: { name: 'GALAD', group: 'cancer', about: 'GALAD model for hepatocellular carcinoma', plain: 'A blood-test based check for liver cancer.' },
  bclc: { name: 'BCLC', group: 'cancer', categoryWord: 'stage', about: 'Barcelona Clinic Liver Cancer stage (2022)', plain: 'The stage of a liver cancer, used to plan treatment.' },
  lung_rads: { name: 'Lung-RADS', group: 'lung', categoryWord: 'category', about: 'ACR Lung-RADS v2022', plain: 'How a lung nodule seen on screening should be followed up.' },
  brock: { name: 'Brock', group: 'lung', about: 'Brock (PanCan) nodule malignancy model', plain: 'The chance that a lung nodule is cancer.' },
  fleischner: { name: 'Fleischner', group: 'lung', about: 'Fleischner Society 2017 follow-up', plain: 'When an incidental lung nodule should be checked again.' },
};

export const SCORE_ORDER: readonly string[] = Object.keys(SCORE_INFO);

export function scoreName(id: string): string {
  return SCORE_INFO[id]?.name ?? id.replace(/_/g, ' ').toUpperCase();
}

/** "total_bilirubin" / "findings.ascites" -> "total bilirubin" / "ascites". */
export function inputName(name: string): string {
  const last = name.split('.').pop() ?? name;
  return last.replace(/_/g, ' ').replace(/\bu l\b/i, 'U/L');
}

/** Order: the server's ids sorted by our known order, unknown ids last. */
export function scoreIdsSorted(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => {
    const ia = SCORE_ORDER.indexOf(a);
    const ib = SCORE_ORDER.indexOf(b);
    return (ia < 0 ? 999 : ia) - (ib < 0 ? 999 : ib) || a.localeCompare(b);
  });
}

export function scoreValueText(value: number | string | null): string {
  if (value === null) return '—';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return value;
}

/** "2" -> "grade 2" for ALBI; words pass through with underscores as spaces. */
export function categoryText(id: string, category: string): string {
  const text = category.replace(/_/g, ' ');
  const word = SCORE_INFO[id]?.categoryWord;
  return word && /^[0-9A-D][A-B0-9]?$/.test(category) ? `${word} ${text}` : text;
}
