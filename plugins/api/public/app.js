// The plexus dashboard: plain DOM, no framework, no build step. Reads the node's API, keeps the
// names, domains and routes current from /events, polls the DNS nodes' lag.
'use strict';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('plexus-token') || '';

/** GET an API path; null for a route this node does not serve (404 ERR_API_NOT_SERVED). */
async function api(path) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(path, { headers });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    $('token-form').hidden = false;
    return null;
  }
  if (res.status === 404 && body.error && body.error.code === 'ERR_API_NOT_SERVED') return null;
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  return body;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function row(cells, attrs = {}) {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  for (const c of cells) tr.append(cell(c));
  return tr;
}

/** A placeholder row for an empty table; the first real row replaces it. */
function empty(body, columns, text) {
  if (body.children.length === 0) body.append(row([text, ...Array(columns - 1).fill('')], { class: 'empty' }));
}

function when(ms) {
  return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '';
}

/** `a 10.2.0.5; cname x.` from a CoreDNS-format field value. */
function summary(records) {
  if (!records) return '(removed)';
  return Object.entries(records)
    .map(([type, list]) => `${type} ${(Array.isArray(list) ? list : [list]).map((r) => r.ip || r.host || r.text || JSON.stringify(r)).join(', ')}`)
    .join('; ');
}

// ---- names ----------------------------------------------------------------------------------

let namesNext = null;

function nameRow(r) {
  return row([r.name, String(r.tid), r.ipaddr || '', when(r.updated)], { 'data-name': r.name, 'data-tid': String(r.tid) });
}

function upsertName(r, fresh) {
  const body = $('names');
  body.querySelector('tr.empty')?.remove();
  const old = body.querySelector(`tr[data-tid="${CSS.escape(String(r.tid))}"]`);
  const tr = nameRow(r);
  if (fresh) tr.classList.add('fresh');
  if (old) old.replaceWith(tr);
  else if (fresh) body.prepend(tr);
  else body.append(tr);
  applyFilter();
}

async function loadNames() {
  const page = await api(`/api/v1/names${namesNext ? `?cursor=${namesNext}` : ''}`);
  if (page === null) {
    $('names').closest('section').hidden = true;
    return;
  }
  for (const r of page.items) upsertName(r, false);
  empty($('names'), 4, 'no name registered yet');
  namesNext = page.next;
  $('names-more').hidden = namesNext === null;
}

// ---- domains --------------------------------------------------------------------------------

function upsertDomain(fqdn, records, fresh) {
  const body = $('domains');
  body.querySelector('tr.empty')?.remove();
  const old = body.querySelector(`tr[data-fqdn="${CSS.escape(fqdn)}"]`);
  const tr = row([fqdn, summary(records)], { 'data-fqdn': fqdn });
  if (fresh) tr.classList.add('fresh');
  if (old) old.replaceWith(tr);
  else if (fresh) body.prepend(tr);
  else body.append(tr);
}

const fqdnOf = (zone, name) => (name === '@' ? zone : `${name}.${zone}`);

async function loadDomains() {
  const zones = await api('/api/v1/zones?limit=20');
  if (zones === null) return;
  for (const z of zones.items) {
    const page = await api(`/api/v1/zones/${encodeURIComponent(z.zone)}/records?limit=100`);
    if (page !== null) for (const r of page.items) upsertDomain(fqdnOf(z.zone, r.name), r.records, false);
  }
  empty($('domains'), 2, 'no record yet');
}

// ---- DNS nodes, routes, hosts ---------------------------------------------------------------

async function loadDnsNodes() {
  const page = await api('/api/v1/dns-nodes');
  if (page === null) return;
  const body = $('dns-nodes');
  body.replaceChildren(...page.items.map((n) => row([n.addr, n.state, n.lagBytes === null ? '?' : String(n.lagBytes)], { 'data-node': n.addr })));
  if (page.items.length === 0) body.append(row(['no replica connected', '', '']));
}

function routeBackend(r) {
  if (r.removed) return '(removed)';
  if (r.error) return r.error;
  return r.tunnel ? 'tunnel client' : `${r.addr} tls:${r.tlsport} http:${r.httpport}`;
}

function upsertRoute(r, fresh) {
  const body = $('routes');
  body.querySelector('tr.empty')?.remove();
  const old = body.querySelector(`tr[data-domain="${CSS.escape(r.domain)}"]`);
  const tr = row([r.domain, routeBackend(r)], { 'data-domain': r.domain });
  if (fresh) tr.classList.add('fresh');
  if (old) old.replaceWith(tr);
  else body.prepend(tr);
}

async function loadRoutes() {
  const page = await api('/api/v1/routes?limit=100');
  if (page === null) {
    $('routes-section').hidden = true;
    return;
  }
  for (const r of page.items) upsertRoute(r, false);
  empty($('routes'), 2, 'no route yet');
}

async function loadHosts() {
  const page = await api('/api/v1/hosts');
  if (page === null) return;
  $('hosts-section').hidden = false;
  $('hosts').replaceChildren(...page.items.map((h) => row([h.public_host, `${h.free_instances} / ${h.capacity.instances}`, h.stale ? 'stale' : h.available ? 'available' : 'draining'])));
}

async function loadReady() {
  const res = await fetch('/readyz');
  const body = await res.json();
  const badge = $('ready');
  badge.textContent = body.ready ? 'ready' : 'not ready';
  badge.className = `badge ${body.ready ? 'ok' : 'bad'}`;
}

// ---- detail and search ----------------------------------------------------------------------

async function showDetail(name) {
  const record = await api(`/api/v1/names/${encodeURIComponent(name)}`).catch((err) => ({ error: err.message }));
  $('detail').hidden = false;
  $('detail-name').textContent = name;
  const dl = $('detail-record');
  dl.replaceChildren();
  const fields = record === null ? { error: 'this node runs no phonebook' } : record;
  for (const [k, v] of Object.entries(fields)) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = k === 'created' || k === 'updated' ? when(v) : String(v);
    dl.append(dt, dd);
  }
  const body = $('detail-domains');
  body.replaceChildren();
  if (record && !record.error) {
    const page = await api(`/api/v1/names/${encodeURIComponent(name)}/domains?limit=100`).catch(() => null);
    for (const e of page ? page.items : []) {
      body.append(row(e.kind === 'dns' ? [e.fqdn, summary(e.records)] : [e.domain, `route: ${routeBackend(e)}`]));
    }
    if (body.children.length === 0) body.append(row(['(none)', '']));
  }
  $('detail').scrollIntoView({ block: 'nearest' });
}

function applyFilter() {
  const q = $('search').value.trim().toLowerCase();
  for (const tr of $('names').children) tr.classList.toggle('hidden', q !== '' && !(tr.dataset.name ?? '').includes(q));
}

// ---- live events ----------------------------------------------------------------------------

function connectEvents() {
  const source = new EventSource('/events');
  source.onopen = () => {
    $('live').textContent = 'live';
    $('live').className = 'badge ok';
  };
  source.onerror = () => {
    $('live').textContent = 'reconnecting';
    $('live').className = 'badge bad';
  };
  source.addEventListener('name', (e) => {
    const d = JSON.parse(e.data);
    if (!d.removed) upsertName(d, true);
  });
  source.addEventListener('record', (e) => {
    const d = JSON.parse(e.data);
    upsertDomain(fqdnOf(d.zone, d.name), d.records, true);
  });
  source.addEventListener('route', (e) => upsertRoute(JSON.parse(e.data), true));
}

// ---- start ----------------------------------------------------------------------------------

function report(err) {
  console.error(err);
}

document.addEventListener('DOMContentLoaded', () => {
  $('names').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-name]');
    if (tr) showDetail(tr.dataset.name).catch(report);
  });
  $('names-more').addEventListener('click', () => loadNames().catch(report));
  $('search').addEventListener('input', applyFilter);
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('search').value.trim().toLowerCase();
    if (q) showDetail(q).catch(report);
  });
  $('detail-close').addEventListener('click', () => ($('detail').hidden = true));
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value;
    sessionStorage.setItem('plexus-token', token);
    $('token-form').hidden = true;
    loadDnsNodes().catch(report);
  });
  // Events first, then the lists: a registration between the two shows either way.
  connectEvents();
  Promise.all([loadNames(), loadDomains(), loadRoutes(), loadHosts(), loadDnsNodes(), loadReady()])
    .catch(report)
    .finally(() => document.body.setAttribute('data-loaded', 'true'));
  setInterval(() => {
    loadDnsNodes().catch(report);
    loadReady().catch(report);
  }, 5000);
});
