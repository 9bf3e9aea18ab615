/** The application: context shared by pages, the router loop and the page lifecycle. */

import { Api } from './api/client';
import { ApiError, errorText } from './api/errors';
import { Http } from './api/http';
import type { Me } from './api/types';
import type { AppConfig } from './config';
import { h, replace } from './lib/dom';
import { type Route, routeHref, routeMatch } from './lib/routes';

/** A mounted page: its element, and what to undo when the user leaves it. */
export interface Page {
  readonly element: HTMLElement;
  readonly title: string;
  destroy(): void;
}

export interface AppContext {
  readonly config: AppConfig;
  readonly api: Api;
  readonly me: Me;
  navigate(href: string, options?: { replace?: boolean }): void;
  /** Polite screen-reader announcement (and a short visible toast). */
  announce(message: string, kind?: 'info' | 'error'): void;
  setTitle(title: string): void;
}

export type PageFactory = (ctx: AppContext, route: Route) => Page | Promise<Page>;

export interface PageTable {
  patients: PageFactory;
  patient: PageFactory;
  study: PageFactory;
  report: PageFactory;
  dashboard: PageFactory;
  consultations: PageFactory;
  consultation: PageFactory;
  audit: PageFactory;
  cxrIntake: PageFactory;
  notFound: PageFactory;
}

export function isClinical(me: Me): boolean {
  return me.role === 'clinician' || me.role === 'admin' || me.role === 'consultant';
}

export function canEdit(me: Me): boolean {
  return me.role === 'clinician' || me.role === 'admin';
}

export class App {
  private readonly config: AppConfig;
  private readonly api: Api;
  private readonly pages: PageTable;
  private readonly root: HTMLElement;
  private me: Me | null = null;
  private main!: HTMLElement;
  private live!: HTMLElement;
  private toast!: HTMLElement;
  private current: Page | null = null;
  private generation = 0;

  constructor(config: AppConfig, root: HTMLElement, pages: PageTable) {
    this.config = config;
    const http = new Http(config);
    http.setUnauthenticatedHandler(() => this.toLogin());
    this.api = new Api(http);
    this.pages = pages;
    this.root = root;
  }

  async init(): Promise<void> {
    try {
      this.me = await this.api.me();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        this.toLogin();
        return;
      }
      replace(this.root, h('main', { class: 'page' }, h('h1', null, 'The server is not answering'),
        h('p', null, error instanceof ApiError ? errorText(error) : 'Try again in a moment.')));
      return;
    }
    this.layout(this.me);
    window.addEventListener('popstate', () => void this.render());
    document.addEventListener('click', (event) => this.interceptLink(event));
    document.addEventListener('keydown', (event) => this.shortcut(event));
    await this.render();
  }

  private context(me: Me): AppContext {
    return {
      config: this.config,
      api: this.api,
      me,
      navigate: (href, options) => this.navigate(href, options),
      announce: (message, kind) => this.announce(message, kind),
      setTitle: (title) => {
        document.title = `${title} · CDSS`;
      },
    };
  }

  private layout(me: Me): void {
    const clinical = isClinical(me);
    const displayName = [me.first_name, me.last_name].filter(Boolean).join(' ') || me.username;
    const nav = h('nav', { class: 'topnav', 'aria-label': 'Main' },
      clinical
        ? [h('a', { href: '/patients', 'data-nav': 'patients' }, 'Patients'),
          h('a', { href: '/consultations', 'data-nav': 'consultations' }, 'Consultations'),
          h('a', { href: '/cxr-intake', 'data-nav': 'cxrIntake' }, 'CXR intake'),
          ...(me.role === 'admin' ? [h('a', { href: '/audit', 'data-nav': 'audit' }, 'Audit trail')] : [])]
        : h('a', { href: '/dashboard', 'data-nav': 'dashboard' }, 'My dashboard'),
    );
    const signOut = h('button', { type: 'button', class: 'btn btn-quiet', id: 'sign-out' }, 'Sign out');
    signOut.addEventListener('click', () => void this.signOut());
    this.main = h('main', { id: 'main', class: 'page', tabindex: '-1' });
    this.live = h('div', { class: 'visually-hidden', 'aria-live': 'polite', role: 'status', id: 'announcer' });
    this.toast = h('div', { class: 'toast', 'aria-hidden': 'true' });
    replace(this.root,
      h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'),
      h('header', { class: 'topbar' },
        h('a', { href: clinical ? '/patients' : '/dashboard', class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), 'CDSS'),
        nav,
        h('div', { class: 'user' },
          h('span', { class: 'user-name' }, displayName, h('span', { class: 'role-badge' }, me.role)),
          signOut,
        ),
      ),
      this.main,
      h('footer', { class: 'footer' }, 'Results support, and do not replace, a clinician\'s judgement.'),
      this.live,
      this.toast,
    );
  }

  private async render(): Promise<void> {
    const me = this.me;
    if (!me) return;
    const generation = ++this.generation;
    let route = routeMatch(location.pathname, location.search);
    if (route.name === 'home') {
      route = isClinical(me) ? { name: 'patients', q: '' } : { name: 'dashboard' };
      history.replaceState(null, '', routeHref(route));
    }
    if (!isClinical(me) && route.name === 'patient' && route.patientId === me.patient_id) {
      // A patient's own record is shown as their dashboard (explained, released results only).
      route = { name: 'dashboard' };
      history.replaceState(null, '', routeHref(route));
    }
    this.current?.destroy();
    this.current = null;
    const factory = this.pages[route.name];
    replace(this.main, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
    let page: Page;
    try {
      page = await factory(this.context(me), route);
    } catch (error) {
      console.error(error);
      page = {
        element: h('div', null, h('h1', null, 'Something went wrong'), h('p', null, 'This page could not be shown. Reload to try again.')),
        title: 'Error',
        destroy: () => undefined,
      };
    }
    if (generation !== this.generation) {
      page.destroy();
      return;
    }
    this.current = page;
    replace(this.main, page.element);
    document.title = `${page.title} · CDSS`;
    for (const link of this.root.querySelectorAll<HTMLAnchorElement>('.topnav a')) {
      const active = link.dataset.nav === route.name || (link.dataset.nav === 'patients' && route.name === 'patient');
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  navigate(href: string, options: { replace?: boolean } = {}): void {
    if (options.replace) history.replaceState(null, '', href);
    else history.pushState(null, '', href);
    void this.render().then(() => {
      if (!options.replace) {
        window.scrollTo(0, 0);
        this.main.focus({ preventScroll: true });
      }
    });
  }

  private interceptLink(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.('a');
    if (!link || link.target || link.hasAttribute('download') || link.dataset.native !== undefined) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin) return;
    const first = url.pathname.split('/')[1] ?? '';
    if (!['', 'patients', 'studies', 'reports', 'dashboard', 'consultations'].includes(first)) return;
    if (url.hash && url.pathname === location.pathname) return;
    event.preventDefault();
    this.navigate(url.pathname + url.search);
  }

  private shortcut(event: KeyboardEvent): void {
    const target = event.target as HTMLElement | null;
    const typing = target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
    if (typing || event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === '/' && this.me && isClinical(this.me)) {
      const search = document.querySelector<HTMLInputElement>('#patient-search');
      event.preventDefault();
      if (search) search.focus();
      else this.navigate('/patients?focus=1');
    }
  }

  announce(message: string, kind: 'info' | 'error' = 'info'): void {
    this.live.textContent = '';
    window.setTimeout(() => {
      this.live.textContent = message;
    }, 30);
    this.toast.textContent = message;
    this.toast.className = `toast toast-${kind} toast-show`;
    window.setTimeout(() => {
      this.toast.className = 'toast';
    }, 3500);
  }

  private toLogin(): void {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`${this.config.loginUrl}?next=${next}`);
  }

  private async signOut(): Promise<void> {
    this.current?.destroy();
    this.current = null;
    try {
      await this.api.http.raw('POST', this.config.logoutUrl, { redirect: 'manual' });
    } finally {
      location.assign(this.config.loginUrl);
    }
  }
}
