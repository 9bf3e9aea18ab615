/**
 * Shapes of the server's JSON, as the portal reads them. Field names follow the Django
 * serializers (snake_case); optional fields are those a server version may not send yet.
 */

import type { AnalyteSpec } from '../lib/units';

export type Role = 'clinician' | 'consultant' | 'patient' | 'admin';

export interface Me {
  readonly id: number;
  readonly username: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly role: Role;
  readonly patient_id: number | null;
}

export interface Page<T> {
  readonly count: number;
  readonly next: string | null;
  readonly previous: string | null;
  readonly results: readonly T[];
}

export type Sex = 'female' | 'male' | 'other' | 'unknown';

export interface Patient {
  readonly id: number;
  readonly mrn: string;
  readonly given_name: string;
  readonly family_name: string;
  readonly birth_date: string;
  readonly sex: Sex;
  readonly phone?: string;
  readonly email?: string;
  readonly care_team?: number | null;
  readonly status: 'active' | 'inactive' | 'deceased';
  readonly created_at: string;
  readonly updated_at: string;
  /** Consultant views may be de-identified. */
  readonly deidentified?: boolean;
}

export type Analyte = AnalyteSpec & {
  readonly plausible?: { readonly min: number; readonly min_inclusive: boolean; readonly max: number; readonly max_inclusive: boolean } | null;
  /** canonical = value * factor + offset, per accepted unit: the server's own factors, for previews only. */
  readonly conversions?: readonly { readonly unit: string; readonly factor: number; readonly offset: number }[];
};

export interface Observation {
  readonly id: number;
  /** LOINC code */
  readonly code: string;
  readonly display_name?: string;
  /** A censored result ("<5"): FHIR Quantity.comparator; "" when the value is exact. */
  readonly comparator?: Comparator | '';
  readonly value: number;
  readonly unit: string;
  readonly value_canonical: number;
  readonly unit_canonical: string;
  readonly observed_at: string;
  readonly reference_low?: number | null;
  readonly reference_high?: number | null;
  readonly specimen?: string;
  readonly source?: string;
  readonly entered_at?: string;
}

/** GET /patients/{id}/observations/series/?code=&unit= : values converted by the server. */
export interface ObservationSeries {
  readonly code: string;
  readonly display_name: string;
  readonly unit: string;
  readonly truncated: boolean;
  readonly points: readonly {
    readonly id: number;
    readonly observed_at: string;
    readonly value: number;
    readonly value_as_entered: number;
    readonly unit_as_entered: string;
  }[];
}

export type Comparator = '<' | '<=' | '>=' | '>';

export interface ObservationCreate {
  readonly code: string;
  readonly value: number;
  readonly comparator?: Comparator;
  readonly unit: string;
  readonly observed_at: string;
  readonly reference_low?: number | null;
  readonly reference_high?: number | null;
  /** Keep a value the server found unusual in its unit (after a unit_suspect answer). */
  readonly unit_confirmed?: boolean;
}

export type Zygosity = 'homozygous' | 'heterozygous' | 'hemizygous' | 'absent';

export interface GeneticFinding {
  readonly id: number;
  readonly gene: string;
  readonly rsid: string;
  readonly hgvs?: string;
  readonly genotype: string;
  readonly zygosity: Zygosity | null;
  readonly assay?: string;
  readonly reported_on: string;
}

export interface LifestyleRecord {
  readonly id: number;
  readonly recorded_on: string;
  readonly alcohol_value: number | null;
  readonly alcohol_unit: string;
  readonly alcohol_g_per_day: number | null;
  readonly smoking_status: 'never' | 'former' | 'current' | null;
  readonly pack_years: number | null;
  readonly height_cm: number | null;
  readonly weight_kg: number | null;
  readonly bmi: number | null;
  readonly diabetes: 'none' | 'prediabetes' | 'type_1' | 'type_2' | 'other' | null;
  readonly activity_minutes_per_week: number | null;
}

export interface ClinicalFinding {
  readonly id: number;
  readonly assessed_on: string;
  readonly ascites: 'none' | 'slight' | 'moderate_severe' | null;
  readonly encephalopathy: 'none' | 'grade_1_2' | 'grade_3_4' | null;
  readonly ecog_ps: number | null;
  readonly dialysis_twice_past_week: boolean | null;
  readonly hbv_status: 'negative' | 'chronic' | 'resolved' | 'vaccinated' | null;
  readonly hcv_status: 'negative' | 'chronic' | 'cleared' | null;
  readonly known_cirrhosis: boolean | null;
  readonly cholestatic_disease: boolean | null;
  /** The tumour burden and spread BCLC 2022 stages from (clinician-entered). */
  readonly tumour_count?: number | null;
  readonly tumour_largest_diameter_mm?: number | null;
  readonly macrovascular_invasion?: boolean | null;
  readonly extrahepatic_spread?: boolean | null;
  readonly clinically_significant_portal_hypertension?: boolean | null;
  readonly transplant_candidate?: boolean | null;
}

export interface ScoreInputUsed {
  readonly name: string;
  readonly code?: string | null;
  readonly value: number | string | boolean | null;
  readonly unit?: string | null;
  readonly date?: string | null;
  readonly kind?: string;
  /** A censored laboratory value ("<5"), used at its limit. */
  readonly comparator?: string;
}

export interface ScoreResult {
  readonly computable: boolean;
  readonly value: number | string | null;
  readonly category: string | null;
  readonly details?: Record<string, unknown>;
  readonly inputs_used: readonly ScoreInputUsed[];
  readonly missing: readonly string[];
  readonly citation: string;
  readonly guideline_version?: string;
  /** Present and true when the score was computed from a censored input: a bound, not exact. */
  readonly censored?: boolean;
}

/** What the portal shows: the scores, modifiers, and the dated inputs they used. */
export interface ScoresResponse {
  readonly scores: Readonly<Record<string, ScoreResult>>;
  readonly modifiers?: readonly Modifier[];
  readonly inputs_used?: readonly ScoreInputUsed[];
  readonly window_days?: number;
  readonly as_of?: string;
}

/** GET /patients/{id}/scores/ as the server sends it. */
export interface PatientScoresBody {
  readonly as_of: string;
  readonly window_days: number;
  readonly response: { readonly scores: Readonly<Record<string, ScoreResult>>; readonly modifiers?: readonly Modifier[] };
  readonly inputs_used: readonly ScoreInputUsed[];
  readonly context?: Record<string, unknown>;
}

/** A documented genetic or lifestyle effect, shown beside the scores (never folded in). */
export interface Modifier {
  readonly factor: string;
  /** true: applies to this patient; false: does not; null: not known (not recorded). */
  readonly present: boolean | null;
  readonly measure?: string;
  readonly estimate?: number | null;
  readonly ci_95?: readonly number[] | null;
  readonly approximate?: boolean;
  readonly comparison?: string;
  readonly outcome?: string;
  readonly citation?: string;
}

export interface ImagingSeries {
  readonly id: number;
  readonly series_instance_uid: string;
  readonly modality: string;
  readonly body_part?: string;
  readonly description?: string;
  readonly series_number?: number | null;
  readonly series_date?: string | null;
  readonly number_of_instances?: number | null;
}

export interface ImagingStudy {
  readonly id: number;
  readonly patient: number;
  readonly study_instance_uid: string;
  readonly study_date: string | null;
  readonly description: string;
  readonly accession_number?: string;
  /** ModalitiesInStudy, comma-separated, e.g. "CT,SEG". */
  readonly modalities: string;
  readonly body_parts?: string;
  readonly number_of_series?: number;
  readonly number_of_instances?: number;
  readonly series: readonly ImagingSeries[];
}

export type AnalysisStatusValue = 'queued' | 'running' | 'succeeded' | 'failed';

export interface AnalysisStep {
  readonly key: string;
  readonly kind: string;
  readonly status: string;
  readonly attempts: number;
  readonly error_code: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
}

export interface Analysis {
  readonly id: number;
  readonly patient: number;
  readonly series_uids: readonly string[];
  readonly model_keys: readonly string[];
  readonly status: AnalysisStatusValue;
  readonly current_step: string;
  readonly progress: number;
  readonly error_code: string;
  readonly error_message: string;
  readonly created_at: string;
  readonly finished_at: string | null;
  readonly steps: readonly AnalysisStep[];
  readonly report_id: number | null;
}

export interface AnalysisModel {
  readonly key: string;
  readonly kind: string;
  readonly modalities: readonly string[];
  readonly description: string;
}

/** draft -> final (shown "signed") -> amended | superseded, once a newer version is signed. */
export type ReportStatusValue = 'draft' | 'final' | 'amended' | 'superseded';

export interface ReportSummary {
  readonly id: number;
  readonly version: number;
  readonly status: ReportStatusValue;
  readonly request: number | null;
  /** The signed version this one replaced (set when signed), and the signed one that replaced it. */
  readonly supersedes: number | null;
  readonly superseded_by: number | null;
  /** The patient's newest report (only in the list). */
  readonly latest?: boolean;
  readonly created_at: string;
  readonly signed_at: string | null;
  readonly content_sha256: string;
  /** Lifecycle, by name (absent from a patient's plain version). */
  readonly status_label?: string;
  /** The patient's current signed version: a newer draft never displaces it. */
  readonly current?: boolean;
  readonly requested_by_name?: string | null;
  readonly requested_at?: string | null;
  readonly signed_by_name?: string | null;
  readonly released_by_name?: string | null;
  readonly released_at?: string | null;
  readonly analysis?: number | null;
  readonly amends?: number | null;
  readonly derived_from?: number | null;
  /** AI findings still proposed when this version was made: it cannot be signed while > 0. */
  readonly findings_pending?: number;
}

export type FindingStatusValue = 'proposed' | 'accepted' | 'edited' | 'rejected';

/** A reviewable imaging finding (inference/findings): a model's proposal or a clinician's entry. */
export interface ImagingFinding {
  readonly id: number;
  readonly analysis: number;
  readonly kind: 'lesion' | 'nodule' | 'classification' | 'segmentation';
  readonly source: 'model' | 'clinician';
  readonly label: string;
  readonly status: FindingStatusValue;
  readonly counts: boolean;
  readonly counts_as_tumour: boolean;
  readonly series_uid: string;
  readonly model_key: string;
  readonly model_version: string;
  /** "lesion:<n>" (the model's lesion number), "liver", "prediction:<SOP UID>", "clinician:…". */
  readonly source_ref: string;
  readonly values: Readonly<Record<string, unknown>>;
  readonly proposed: Readonly<Record<string, unknown>>;
  readonly decided_by: string | null;
  readonly decided_at: string | null;
  readonly reason: string;
}

export interface FindingDecisionBody {
  readonly status: 'accepted' | 'edited' | 'rejected';
  readonly reason?: string;
  readonly label?: string;
  readonly values?: Readonly<Record<string, number>>;
}

/** After decisions: the findings as they stand and the new draft version (null before the first report). */
export interface FindingsDecided {
  readonly findings: readonly ImagingFinding[];
  readonly report: { readonly id: number; readonly version: number; readonly status: ReportStatusValue } | null;
}

export interface Report extends ReportSummary {
  /** Why this draft cannot be signed now (proposed findings, a newer version), or null. */
  readonly sign_blocker?: { readonly code: string; readonly message: string } | null;
  readonly patient: number;
  readonly content: ReportContent;
  readonly integrity_ok: boolean;
  readonly signed_by: number | null;
  readonly sign_comment: string;
}

/** Report content is versioned JSON; the page reads what it knows and shows the rest raw. */
export interface ReportContent {
  readonly [key: string]: unknown;
}

/** POST /patients/{id}/imaging/upload/ (201 all stored, 202 some, 400 upload_rejected none). */
export interface UploadReport {
  readonly stored: number;
  readonly rejected: number;
  readonly files: readonly { readonly name: string; readonly status: string; readonly code: string | null; readonly message: string }[];
  readonly studies: readonly { readonly study_instance_uid: string; readonly status: string; readonly files: number }[];
}

/** POST /patients/{id}/imaging/sync/ */
export interface SyncReport {
  readonly linked: readonly number[];
  readonly refreshed: readonly number[];
  readonly missing: readonly number[];
  readonly mismatches: readonly { readonly study_instance_uid: string; readonly reason: string }[];
}
