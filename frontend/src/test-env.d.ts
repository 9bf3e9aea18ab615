// The one Node API the unit tests use (reading a binary fixture); the app itself never runs in Node.
declare module 'node:fs' {
  export function readFileSync(path: URL): Uint8Array;
}
