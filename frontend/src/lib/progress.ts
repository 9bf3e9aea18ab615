/** Texts for work people wait on: a step's own count (slices, images) and an upload's bytes,
 * each with the time left. Pure. */

/** A step's own progress as the worker reports it: `done` of `total` `unit`, seconds left. */
export interface StepCount {
  readonly step: string | null;
  readonly unit: string;
  readonly done: number;
  readonly total: number;
  readonly etaS: number | null;
}

/** "8 s", "2 min", "1 h 5 min": rounded up, never "0 s" while work remains. */
export function durationShort(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

function timeLeft(etaS: number | null, done: number, total: number): string {
  if (done >= total) return '';
  return etaS === null || !Number.isFinite(etaS) || etaS < 0 ? '' : ` · about ${durationShort(etaS)} left`;
}

/** "48 of 150 slices · about 20 s left". */
export function stepCountText(count: StepCount): string {
  return `${count.done} of ${count.total} ${count.unit}${timeLeft(count.etaS, count.done, count.total)}`;
}

const BYTE_UNITS = ['bytes', 'kB', 'MB', 'GB'] as const;

/** Decimal units, as file managers show sizes: "950 bytes", "12.4 kB", "1.2 MB". */
export function bytesText(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} bytes`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${BYTE_UNITS[unit]}`;
}

/** Seconds left at the average pace so far; null until there is a pace to go on. */
export function etaFromPace(done: number, total: number, elapsedS: number): number | null {
  if (done <= 0 || elapsedS <= 0 || total <= 0) return null;
  return (elapsedS / done) * Math.max(total - done, 0);
}

/** "1.2 MB of 4.5 MB sent · about 3 s left". */
export function uploadText(sent: number, total: number, etaS: number | null): string {
  return `${bytesText(sent)} of ${bytesText(total)} sent${timeLeft(etaS, sent, total)}`;
}
