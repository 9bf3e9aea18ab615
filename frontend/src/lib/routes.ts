/** Client-side routes of the portal: pure parsing and building, no DOM. */

export type Route =
  | { readonly name: 'home' }
  | { readonly name: 'patients'; readonly q: string }
  | { readonly name: 'patient'; readonly patientId: number }
  | {
    readonly name: 'study'; readonly studyUid: string; readonly patientId: number | null; readonly seriesUid: string | null;
    /** The image to open at (a report's lesion row links to the lesion's slice). */
    readonly instanceUid?: string | null;
  }
  | { readonly name: 'report'; readonly reportId: number }
  | { readonly name: 'dashboard' }
  | { readonly name: 'consultations' }
  | { readonly name: 'consultation'; readonly consultationId: number }
  | { readonly name: 'audit' }
  | { readonly name: 'cxrIntake' }
  | { readonly name: 'notFound'; readonly path: string };

const UID = /^[0-9.]{1,64}$/;

function positiveInt(text: string | undefined): number | null {
  if (!text || !/^\d{1,12}$/.test(text)) return null;
  const value = Number(text);
  return value > 0 ? value : null;
}

export function routeMatch(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  const parts = pathname.split('/').filter(Boolean);
  const [head, second, third] = parts;
  if (parts.length === 0) return { name: 'home' };
  if (head === 'patients' && parts.length === 1) return { name: 'patients', q: params.get('q') ?? '' };
  if (head === 'patients' && parts.length === 2) {
    const patientId = positiveInt(second);
    if (patientId !== null) return { name: 'patient', patientId };
  }
  if (head === 'studies' && second && UID.test(second) && (parts.length === 2 || (parts.length === 3 && third === 'viewer'))) {
    const series = params.get('series');
    const instance = params.get('instance');
    return {
      name: 'study',
      studyUid: second,
      patientId: positiveInt(params.get('patient') ?? undefined),
      seriesUid: series && UID.test(series) ? series : null,
      ...(instance && UID.test(instance) ? { instanceUid: instance } : {}),
    };
  }
  if (head === 'reports' && parts.length === 2) {
    const reportId = positiveInt(second);
    if (reportId !== null) return { name: 'report', reportId };
  }
  if (head === 'dashboard' && parts.length === 1) return { name: 'dashboard' };
  if (head === 'audit' && parts.length === 1) return { name: 'audit' };
  if (head === 'cxr-intake' && parts.length === 1) return { name: 'cxrIntake' };
  if (head === 'consultations' && parts.length === 1) return { name: 'consultations' };
  if (head === 'consultations' && parts.length === 2) {
    const consultationId = positiveInt(second);
    if (consultationId !== null) return { name: 'consultation', consultationId };
  }
  return { name: 'notFound', path: pathname };
}

export function routeHref(route: Route): string {
  switch (route.name) {
    case 'home':
      return '/';
    case 'patients':
      return route.q ? `/patients?q=${encodeURIComponent(route.q)}` : '/patients';
    case 'patient':
      return `/patients/${route.patientId}`;
    case 'study': {
      const query = new URLSearchParams();
      if (route.patientId !== null) query.set('patient', String(route.patientId));
      if (route.seriesUid !== null) query.set('series', route.seriesUid);
      if (route.instanceUid) query.set('instance', route.instanceUid);
      const text = query.toString();
      return `/studies/${route.studyUid}${text ? `?${text}` : ''}`;
    }
    case 'report':
      return `/reports/${route.reportId}`;
    case 'dashboard':
      return '/dashboard';
    case 'consultations':
      return '/consultations';
    case 'consultation':
      return `/consultations/${route.consultationId}`;
    case 'audit':
      return '/audit';
    case 'cxrIntake':
      return '/cxr-intake';
    case 'notFound':
      return route.path;
  }
}
