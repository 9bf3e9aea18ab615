/** Entry point: build the config, start the app on #app. */

import { App } from './app';
import { auditPage } from './pages/audit';
import { consultInboxPage } from './pages/consultInbox';
import { consultRoomPage } from './pages/consultRoom';
import { cxrIntakePage } from './pages/cxrIntake';
import { configBuild } from './config';
import { dashboardPage } from './pages/dashboard';
import { ehrBannerMount } from './components/ehrBanner';
import { patientPage } from './pages/patient';
import { patientsPage } from './pages/patients';
import { notFoundPage } from './pages/notFound';
import { reportPage } from './pages/report';
import { studyPage } from './pages/study';
import { routeMatch } from './lib/routes';
import { studyPrefetchEarly } from './viewer/prefetch';
import './styles.css';

const root = document.getElementById('app');
if (root) {
  void ehrBannerMount(root);
  const config = configBuild(window.location, navigator.hardwareConcurrency || 2);
  const opening = routeMatch(location.pathname, location.search);
  if (opening.name === 'study') {
    // A study's images are what its reader waits for: their first reads and the viewer's code
    // start now, while the app asks who is signed in (the study page takes them).
    studyPrefetchEarly(config.viewer.dicomwebRoot, opening.studyUid, opening.seriesUid);
    import('./viewer/viewer').catch(() => undefined);
  }
  const app = new App(config, root, {
    patients: patientsPage,
    patient: patientPage,
    study: studyPage,
    report: reportPage,
    dashboard: dashboardPage,
    notFound: notFoundPage,
    audit: auditPage,
    cxrIntake: cxrIntakePage,
    consultations: consultInboxPage,
    consultation: (ctx, route) => {
      if (route.name !== 'consultation') throw new Error('wrong route');
      return consultRoomPage(ctx, route);
    },
  });
  void app.init();
}
