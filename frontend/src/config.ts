/** The one typed configuration object of the browser app; everything else receives it. */

export interface RealtimeConfig {
  /** First reconnect delay after an unexpected close. */
  readonly initialBackoffMs: number;
  /** Upper bound of the exponential backoff. */
  readonly maxBackoffMs: number;
}

export interface ViewerConfig {
  /** Root of the authenticated DICOMweb proxy (QIDO-RS, WADO-RS), same origin. */
  readonly dicomwebRoot: string;
  /** Decoder workers; the machine is small, so keep this low. */
  readonly maxWebWorkers: number;
}

export interface AppConfig {
  readonly apiRoot: string;
  readonly wsRoot: string;
  readonly loginUrl: string;
  readonly logoutUrl: string;
  readonly csrfCookieName: string;
  readonly realtime: RealtimeConfig;
  readonly viewer: ViewerConfig;
}

export interface LocationLike {
  readonly protocol: string;
  readonly host: string;
}

export function configBuild(location: LocationLike, hardwareConcurrency = 2): AppConfig {
  const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    apiRoot: '/api/v1',
    wsRoot: `${wsScheme}//${location.host}/ws`,
    loginUrl: '/login/',
    logoutUrl: '/logout/',
    csrfCookieName: 'csrftoken',
    realtime: { initialBackoffMs: 500, maxBackoffMs: 15_000 },
    viewer: {
      dicomwebRoot: `${location.protocol}//${location.host}/dicomweb`,
      maxWebWorkers: Math.max(1, Math.min(2, Math.floor(hardwareConcurrency / 2))),
    },
  };
}
