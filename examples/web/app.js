// hotelmux demo page: sign in -> search -> hotel -> select (live check) -> book
// -> my bookings -> cancel. Plain JS, no build step; talks to the
// HotelByte-compatible API of the same server. Every value from the server is
// put into the page as text (never as HTML).
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  ticket: sessionStorage.getItem('hm.ticket') || null,
  search: null,          // the last search request body
  hotels: [],            // hotelList answer list
  hotel: null,           // { hotel, rooms, suppliers, receivedAt }
  offer: null,           // { room, rate } selected
  checked: null,         // fresh RoomRatePkg after checkAvail
};

// ---- small helpers ---------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const en = (x) => (x && typeof x === 'object' ? x.en || Object.values(x)[0] || '' : x || '');
function money(m) {
  if (!m) return '—';
  const n = Number(m.amountText ?? m.amount);
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).format(n);
  } catch (_) { return `${m.currency} ${m.amountText ?? m.amount}`; }
}
const amt = (m) => (m ? Number(m.amountText ?? m.amount) : 0);
function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC';
}
function ago(s) {
  s = Math.max(0, Math.round(s));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
function notice(text, kind) {
  const n = $('notice');
  n.textContent = text || '';
  n.className = 'notice' + (kind ? ' ' + kind : '');
}
const STARS = (n) => (n ? '★'.repeat(Math.round(n)) : '');

// ---- API ---------------------------------------------------------------------
class ApiError extends Error {
  constructor(code, msg, data, status) { super(msg); this.code = code; this.data = data; this.status = status; }
}
async function api(path, body, { auth = true } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (auth) headers.Authorization = 'Bearer ' + state.ticket;
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
  } catch (e) {
    throw new ApiError(-1, 'The server cannot be reached. Check your connection and try again.');
  }
  let j;
  try { j = await res.json(); } catch (_) { throw new ApiError(-1, `Unexpected answer from the server (HTTP ${res.status}).`); }
  if (j.code === 100000401 && auth) { signOut('Your session has ended. Please sign in again.'); }
  if (j.code !== 0) throw new ApiError(j.code, j.msg || 'request failed', j.data, res.status);
  return j.data;
}

// ---- views -------------------------------------------------------------------
const VIEWS = ['signin', 'search', 'hotel', 'check', 'confirm', 'bookings'];
function show(view, focus = true) {
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  $('sign-out').hidden = !state.ticket;
  $('nav-search').disabled = !state.ticket;
  $('nav-bookings').disabled = !state.ticket;
  if (focus) {
    const heading = $('view-' + view).querySelector('h2');
    if (heading) { heading.tabIndex = -1; heading.focus(); }
  }
}

function signOut(msg) {
  state.ticket = null;
  sessionStorage.removeItem('hm.ticket');
  show('signin');
  notice(msg || 'Signed out.');
}

// ---- sign in -----------------------------------------------------------------
$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('signin-error').textContent = '';
  try {
    const d = await api('/api/auth/ticket', { appKey: $('app-key').value.trim(), appSecret: $('app-secret').value }, { auth: false });
    state.ticket = d.ticket;
    sessionStorage.setItem('hm.ticket', d.ticket);
    notice('Signed in.');
    show('search');
  } catch (e) {
    $('signin-error').textContent = e.code === 100000401 ? 'Wrong app key or secret.' : e.message;
  }
});
$('sign-out').addEventListener('click', () => signOut());
$('nav-search').addEventListener('click', () => show('search'));
$('nav-bookings').addEventListener('click', () => loadBookings());

// ---- search ------------------------------------------------------------------
function isoDay(offset) {
  const d = new Date(Date.now() + offset * 86400000);
  return d.toISOString().slice(0, 10);
}
$('check-in').value = isoDay(30);
$('check-out').value = isoDay(32);
$('check-in').min = isoDay(0);
$('check-in').addEventListener('change', () => {
  if ($('check-out').value <= $('check-in').value) {
    const d = new Date($('check-in').value + 'T00:00:00Z');
    $('check-out').value = new Date(d.getTime() + 86400000).toISOString().slice(0, 10);
  }
});

function searchBody() {
  const rooms = Math.max(1, Math.min(9, parseInt($('rooms').value, 10) || 1));
  const adults = Math.max(1, Math.min(9, parseInt($('adults').value, 10) || 2));
  const kids = $('children').value.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const occ = [];
  for (let i = 0; i < rooms; i++) occ.push({ adultCount: adults, childrenAges: kids });
  return {
    destinationName: $('destination').value.trim(),
    checkIn: $('check-in').value, checkOut: $('check-out').value,
    roomOccupancies: occ, currency: 'USD',
  };
}

const STATUS_TEXT = { ok: 'ok', timeout: 'timed out', error: 'error', throttled: 'throttled', circuit_open: 'paused' };
function chips(el, suppliers) {
  el.replaceChildren();
  for (const s of suppliers || []) {
    const st = s.status || 'error';
    const label = `${s.supplier}: ${STATUS_TEXT[st] || st}` + (st === 'ok' || st === 'timeout' ? `, ${s.latencyMs} ms` : '');
    el.append(h('span', { class: 'chip ' + (st === 'ok' ? 'ok' : st === 'throttled' ? 'warn' : 'bad'),
      title: s.error || label, 'data-supplier': s.supplier, 'data-status': st }, label));
  }
}

function freshnessBadge(f, receivedAt) {
  if (f && f.source === 'cache') {
    const age = (f.ageSeconds || 0) + (Date.now() - receivedAt) / 1000;
    return h('span', { class: 'badge ref', 'data-test': 'freshness', 'data-source': 'cache',
      'data-age': f.ageSeconds || 0, 'data-received': receivedAt,
      title: 'A reference price from a recent search; the final price is confirmed live when you select it.' },
      `Reference price · updated ${ago(age)}`);
  }
  return h('span', { class: 'badge live', 'data-test': 'freshness', 'data-source': 'live',
    title: 'Quoted by the supplier for this search' }, 'Live');
}
// Keep "updated N s ago" moving.
setInterval(() => {
  for (const b of document.querySelectorAll('.badge.ref[data-received]')) {
    const age = Number(b.dataset.age) + (Date.now() - Number(b.dataset.received)) / 1000;
    b.textContent = `Reference price · updated ${ago(age)}`;
  }
}, 5000);

$('search-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('search-error').textContent = '';
  const body = searchBody();
  if (body.checkOut <= body.checkIn) { $('search-error').textContent = 'Check-out must be after check-in.'; return; }
  state.search = body;
  notice('Searching all suppliers…', 'busy');
  const btn = ev.submitter || $('search-form').querySelector('button');
  btn.disabled = true;
  try {
    const d = await api('/api/search/hotelList', { ...body, pageSize: 50 });
    state.hotels = d.list || [];
    renderHotels(d, Date.now());
    notice(`${d.total} hotels found.`);
  } catch (e) {
    $('search-error').textContent = e.message;
    notice('');
  } finally { btn.disabled = false; }
});

function renderHotels(d, receivedAt) {
  $('results').hidden = false;
  chips($('supplier-chips'), d.suppliers);
  const list = $('hotel-list');
  list.replaceChildren();
  if (!state.hotels.length) list.append(h('li', { class: 'empty' }, 'No hotels found for this search.'));
  for (const hotel of state.hotels) {
    const sups = new Set();
    let ref = false;
    for (const r of hotel.rooms || []) for (const rt of r.rates || []) {
      sups.add(rt.supplier || rt.originalRoomNaming?.supplierName);
      if (rt.freshness?.source === 'cache') ref = true;
    }
    list.append(h('li', { class: 'card hotel', 'data-hotel': hotel.id },
      h('div', { class: 'hotel-main' },
        h('h4', {}, en(hotel.name)),
        h('p', { class: 'meta' }, h('span', { class: 'stars', 'aria-label': `${hotel.star || 0} stars` }, STARS(hotel.star)), ' ', en(hotel.address)),
        h('p', { class: 'meta' }, sups.size ? `Offers from ${[...sups].join(', ')}` : 'No offers for these dates')),
      h('div', { class: 'hotel-price' },
        hotel.minPrice ? h('p', {}, h('span', { class: 'from' }, 'from '), h('strong', { 'data-test': 'min-price' }, money(hotel.minPrice)), h('span', { class: 'from' }, ' total')) : h('p', {}, 'Sold out'),
        hotel.minPrice ? freshnessBadge(ref ? { source: 'cache', ageSeconds: maxAge(hotel) } : null, receivedAt) : null,
        h('button', { type: 'button', class: 'primary', disabled: !hotel.isAvailable, 'data-test': 'open-hotel',
          'aria-label': `See rooms at ${en(hotel.name)}`, onclick: () => openHotel(hotel) }, 'See rooms'))));
  }
}
function maxAge(hotel) {
  let a = 0;
  for (const r of hotel.rooms || []) for (const rt of r.rates || []) a = Math.max(a, rt.freshness?.ageSeconds || 0);
  return a;
}

// ---- a hotel's rooms -----------------------------------------------------------
async function openHotel(hotel) {
  notice(`Loading rooms at ${en(hotel.name)}…`, 'busy');
  try {
    const d = await api('/api/search/hotelRates', { ...state.search, hotelId: hotel.id });
    state.hotel = { hotel, rooms: d.rooms || [], suppliers: d.suppliers, receivedAt: Date.now() };
    renderHotel();
    notice('');
    show('hotel');
  } catch (e) { notice(e.message, 'bad'); }
}
$('back-to-results').addEventListener('click', () => show('search'));

function refundText(rt) {
  if (rt.refundableMode === 'no' || !rt.refundableMode) return { text: 'Non-refundable', cls: 'nonref' };
  if (rt.refundableUntil) return { text: `Free cancellation until ${fmtDate(rt.refundableUntil)}`, cls: 'ref' };
  return { text: rt.refundableMode === 'partial' ? 'Partly refundable' : 'Refundable', cls: 'ref' };
}
function taxLines(rt) {
  const t = rt.tax || {};
  const out = [];
  if (amt(t.includedTotal) > 0) out.push(`includes ${money(t.includedTotal)} taxes`);
  else out.push('taxes included');
  if (amt(t.excludedTotal) > 0) out.push(`+ ${money(t.excludedTotal)} taxes not included`);
  if (amt(t.payAtHotel) > 0) out.push(`+ ${money(t.payAtHotel)} to pay at the hotel`);
  return out.join(' · ');
}
function nightsOf(s) { return Math.round((new Date(s.checkOut) - new Date(s.checkIn)) / 86400000); }

function offerRow(room, rt, { onSelect, receivedAt, selectLabel = 'Select' }) {
  const sup = rt.supplier || rt.originalRoomNaming?.supplierName || '?';
  const rf = refundText(rt);
  return h('li', { class: 'offer', 'data-test': 'offer', 'data-supplier': sup, 'data-pkg': rt.ratePkgId,
      'data-room': room.roomTypeId, 'data-supplier-room': rt.originalRoomNaming?.id },
    h('div', { class: 'offer-main' },
      h('p', { class: 'offer-sup' }, h('strong', {}, sup), ' · ', h('span', { 'data-test': 'supplier-room-name' }, rt.originalRoomNaming?.name || en(room.roomTypeName))),
      h('p', { class: 'meta' }, en(rt.board?.boardName) || rt.board?.boardId || 'Room only', ' · ',
        h('span', { class: rf.cls }, rf.text))),
    h('div', { class: 'offer-price' },
      h('p', {}, h('strong', { 'data-test': 'price' }, money(rt.totalRate?.netRate)),
        h('span', { class: 'from' }, ` for ${nightsOf(rt)} night${nightsOf(rt) === 1 ? '' : 's'}`)),
      h('p', { class: 'tax' }, taxLines(rt)),
      freshnessBadge(rt.freshness, receivedAt),
      h('button', { type: 'button', class: 'primary', 'data-test': 'select-offer',
        'aria-label': `${selectLabel}: ${sup}, ${rt.originalRoomNaming?.name || ''}, ${money(rt.totalRate?.netRate)}`,
        onclick: () => onSelect(room, rt) }, selectLabel)));
}

function renderHotel() {
  const { hotel, rooms, suppliers, receivedAt } = state.hotel;
  $('hotel-h').textContent = en(hotel.name);
  $('hotel-meta').replaceChildren(h('span', { class: 'stars', 'aria-label': `${hotel.star || 0} stars` }, STARS(hotel.star)), ' ', en(hotel.address));
  chips($('hotel-chips'), suppliers);
  const list = $('rooms-list');
  list.replaceChildren();
  if (!rooms.length) list.append(h('p', { class: 'empty' }, 'No rooms are available at this hotel for your dates.'));
  for (const room of rooms) {
    list.append(h('section', { class: 'room card', 'data-room': room.roomTypeId, 'aria-label': en(room.roomTypeName) },
      h('h3', {}, en(room.roomTypeName), h('span', { class: 'count' }, ` · ${room.rates.length} offer${room.rates.length === 1 ? '' : 's'}`)),
      h('ul', { class: 'offers' }, room.rates.map((rt) => offerRow(room, rt, { onSelect: selectOffer, receivedAt })))));
  }
}

// ---- select: the live check ------------------------------------------------------
$('back-to-hotel').addEventListener('click', () => show('hotel'));

function setCheckState(kind, ...content) {
  const el = $('check-state');
  el.className = 'state ' + kind;
  el.dataset.state = kind;
  el.replaceChildren(...content);
}

function renderSelected(room, rt, fresh) {
  const r = fresh || rt;
  const rf = refundText(r);
  $('selected-offer').replaceChildren(
    h('h3', {}, en(state.hotel.hotel.name)),
    h('p', {}, en(room.roomTypeName), ' — ', h('strong', {}, r.supplier || r.originalRoomNaming?.supplierName), ': ', r.originalRoomNaming?.name || ''),
    h('p', { class: 'meta' }, `${r.checkIn} → ${r.checkOut} · `, en(r.board?.boardName) || 'Room only', ' · ', h('span', { class: rf.cls }, rf.text)),
    h('p', {}, h('strong', { 'data-test': 'selected-price' }, money(r.totalRate?.netRate)), ' ', h('span', { class: 'tax' }, taxLines(r))),
    cancelSchedule(r.cancelFees));
}
function cancelSchedule(fees) {
  if (!fees || !fees.length) return null;
  return h('details', {}, h('summary', {}, 'Cancellation fees'),
    h('ul', {}, fees.map((f) => h('li', {}, `${amt(f.fee) > 0 ? money(f.fee) : 'Free'} if cancelled before ${fmtDate(f.until)}`)),
      h('li', {}, 'Later: the full price')));
}

async function selectOffer(room, rt) {
  state.offer = { room, rate: rt };
  state.checked = null;
  $('book-form').hidden = true;
  $('alternatives').hidden = true;
  $('book-error').textContent = '';
  renderSelected(room, rt);
  show('check');
  setCheckState('busy', h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Confirming live availability…');
  notice('Confirming live availability…', 'busy');
  try {
    const d = await api('/api/search/checkAvail', { ratePkgId: rt.ratePkgId });
    if (d.status === 1 && d.roomRatePkg) {
      state.checked = d.roomRatePkg;
      renderSelected(room, rt, d.roomRatePkg);
      setCheckState('ok', `Available — confirmed live with ${d.supplierName} just now at ${money(d.roomRatePkg.totalRate?.netRate)}.`);
      notice('Available. Enter the guest details to book.');
      openBookForm();
    } else {
      soldOut(room, rt, d);
    }
  } catch (e) {
    if (e.code === 100001111 && e.data?.roomRatePkg) return priceChanged(room, rt, e.data.roomRatePkg);
    setCheckState('bad', `We could not confirm this offer with ${rt.supplier}: ${e.message}. Please choose another offer or try again.`,
      h('button', { type: 'button', onclick: () => selectOffer(room, rt) }, 'Try again'));
    notice('Could not confirm availability.', 'bad');
  }
}

function priceChanged(room, rt, fresh) {
  const was = rt.totalRate?.netRate, now = fresh.totalRate?.netRate;
  const up = amt(now) > amt(was);
  renderSelected(room, rt, fresh);
  setCheckState('warn',
    h('p', { 'data-test': 'price-changed' }, h('strong', {}, 'The price has changed. '),
      `It was ${money(was)}; the supplier now asks `, h('strong', { 'data-test': 'new-price' }, money(now)),
      ` (${up ? 'up' : 'down'} ${money({ currency: now?.currency, amount: Math.abs(amt(now) - amt(was)).toFixed(2) })}).`),
    h('p', {}, 'Do you want to book at the new price?'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', 'data-test': 'accept-new-price', onclick: () => {
        state.checked = fresh;
        setCheckState('ok', `Price accepted: ${money(now)}.`);
        openBookForm();
      } }, `Continue at ${money(now)}`),
      h('button', { type: 'button', onclick: () => show('hotel') }, 'Choose another offer')));
  notice(`The price has changed from ${money(was)} to ${money(now)}.`, 'warn');
}

function soldOut(room, rt, d) {
  const sup = rt.supplier || d.supplierName;
  setCheckState('bad', h('p', { 'data-test': 'sold-out' }, h('strong', {}, 'Sold out. '),
    `${sup} no longer has this room for your dates${d.reason ? ` (${d.reason})` : ''}.`));
  notice('Sold out: this offer is no longer available.', 'bad');
  const others = (room.rates || []).filter((r) => (r.supplier || r.originalRoomNaming?.supplierName) !== sup);
  const alt = $('alternatives');
  alt.replaceChildren(
    h('h3', {}, others.length ? `Other suppliers' offers for ${en(room.roomTypeName)}` : 'No other supplier offers this room'),
    others.length ? h('ul', { class: 'offers' }, others.map((r) => offerRow(room, r, { onSelect: selectOffer, receivedAt: state.hotel.receivedAt })))
      : h('p', {}, h('button', { type: 'button', onclick: () => show('hotel') }, 'See the other rooms')));
  alt.hidden = false;
}

function openBookForm() {
  const form = $('book-form');
  const nrooms = state.search.roomOccupancies.length;
  const extra = $('extra-guests');
  extra.replaceChildren();
  for (let i = 2; i <= nrooms; i++) {
    extra.append(h('fieldset', { class: 'grid' }, h('legend', {}, `Guest in room ${i}`),
      h('div', { class: 'field' }, h('label', { for: `g${i}-first` }, 'First name'), h('input', { id: `g${i}-first`, required: true, maxlength: 100 })),
      h('div', { class: 'field' }, h('label', { for: `g${i}-last` }, 'Last name'), h('input', { id: `g${i}-last`, required: true, maxlength: 100 }))));
  }
  $('book-button').textContent = `Book now · ${money(state.checked.totalRate?.netRate)}`;
  form.hidden = false;
  $('holder-first').focus();
}

function newRef() {
  const a = new Uint8Array(5);
  crypto.getRandomValues(a);
  return 'W' + Date.now().toString(36).slice(-6).toUpperCase() + [...a].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 8).toUpperCase();
}

$('book-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const btn = $('book-button');
  $('book-error').textContent = '';
  const holder = { firstName: $('holder-first').value.trim(), lastName: $('holder-last').value.trim() };
  if ($('holder-email').value.trim()) holder.email = $('holder-email').value.trim();
  const guests = [{ roomIndex: 1, firstName: holder.firstName, lastName: holder.lastName }];
  for (let i = 2; i <= state.search.roomOccupancies.length; i++)
    guests.push({ roomIndex: i, firstName: $(`g${i}-first`).value.trim(), lastName: $(`g${i}-last`).value.trim() });
  btn.disabled = true;
  notice('Booking with the supplier…', 'busy');
  try {
    const d = await api('/api/trade/book', { customerReferenceNo: newRef(), ratePkgId: state.checked.ratePkgId, holder, guests });
    renderConfirmation(d.order);
    show('confirm');
    notice(d.order.status === 2 ? 'Booking confirmed.' : `Booking ${ORDER_STATUS[d.order.status] || 'pending'}.`);
  } catch (e) {
    if (e.code === 100001111) $('book-error').textContent = 'The price changed while booking. Please select the offer again.';
    else $('book-error').textContent = e.message;
    notice('The booking did not go through.', 'bad');
  } finally { btn.disabled = false; }
});

const ORDER_STATUS = { 0: 'unknown', 1: 'being confirmed', 2: 'confirmed', 3: 'cancelled', 4: 'failed', 5: 'cancellation failed' };
function renderConfirmation(o) {
  const ok = o.status === 2;
  $('confirmation').replaceChildren(
    h('p', { class: ok ? 'state ok' : 'state warn', 'data-test': 'order-status', 'data-status': o.status },
      ok ? 'Confirmed.' : `Status: ${ORDER_STATUS[o.status] || o.status}.`, ' ', o.statusRemark || ''),
    h('dl', {},
      h('dt', {}, 'Booking reference'), h('dd', { 'data-test': 'order-ref' }, o.customerReferenceNo),
      h('dt', {}, 'Supplier reference'), h('dd', {}, `${o.supplierName} ${o.supplierReferenceNo || '—'}`),
      o.hotelConfirmNo ? [h('dt', {}, 'Hotel confirmation'), h('dd', {}, o.hotelConfirmNo)] : null,
      h('dt', {}, 'Hotel'), h('dd', {}, en(o.hotel?.name)),
      h('dt', {}, 'Room'), h('dd', {}, (o.rooms || []).map((r) => en(r.roomTypeName)).join(', ')),
      h('dt', {}, 'Stay'), h('dd', {}, `${o.checkIn} → ${o.checkOut} (${o.nightCount} night${o.nightCount === 1 ? '' : 's'}, ${o.roomCount} room${o.roomCount === 1 ? '' : 's'})`),
      h('dt', {}, 'Total'), h('dd', {}, money(o.totalRate?.netRate))));
}
$('to-bookings').addEventListener('click', () => loadBookings());

// ---- my bookings, cancel -------------------------------------------------------------
async function loadBookings() {
  show('bookings');
  const list = $('orders');
  list.replaceChildren(h('li', { class: 'empty' }, 'Loading…'));
  try {
    const d = await api('/api/trade/queryOrders', {});
    list.replaceChildren();
    if (!d.orders.length) list.append(h('li', { class: 'empty' }, 'No bookings yet.'));
    for (const o of d.orders) list.append(orderItem(o));
  } catch (e) { list.replaceChildren(h('li', { class: 'error' }, e.message)); }
}
$('refresh-bookings').addEventListener('click', () => loadBookings());

// The fee the schedule says applies now (tiers are "until" deadlines, ascending).
function currentFee(o) {
  const now = Date.now();
  const fees = [...(o.cancelFees || [])].sort((a, b) => new Date(a.until) - new Date(b.until));
  for (const f of fees) if (now < new Date(f.until).getTime()) return f.fee;
  if (fees.length) return o.totalRate?.netRate; // past every deadline: the full price
  return null;                                  // unknown: the supplier says at cancel time
}

function orderItem(o) {
  const cancellable = o.status === 2 || o.status === 5;
  return h('li', { class: 'card order', 'data-test': 'order', 'data-ref': o.customerReferenceNo, 'data-status': o.status },
    h('div', {},
      h('h3', {}, en(o.hotel?.name)),
      h('p', { class: 'meta' }, `${o.checkIn} → ${o.checkOut} · ${(o.rooms || []).map((r) => en(r.roomTypeName)).join(', ')} · ${o.supplierName}`),
      h('p', {}, `Ref ${o.customerReferenceNo} · `, h('strong', { class: 'status s' + o.status, 'data-test': 'order-state' }, ORDER_STATUS[o.status] || String(o.status)),
        o.status === 3 && o.serviceFee ? ` · cancellation fee ${money(o.serviceFee)}, refunded ${money(o.refundedPrice)}` : '')),
    h('div', { class: 'order-side' },
      h('p', {}, h('strong', {}, money(o.totalRate?.netRate))),
      cancellable ? h('button', { type: 'button', class: 'danger', 'data-test': 'cancel-order',
        'aria-label': `Cancel booking ${o.customerReferenceNo}`, onclick: () => askCancel(o) }, 'Cancel') : null));
}

function askCancel(o) {
  const fee = currentFee(o);
  $('cancel-text').textContent = fee === null
    ? `Booking ${o.customerReferenceNo} at ${en(o.hotel?.name)}. The supplier did not publish a fee schedule; any fee is shown after cancelling.`
    : amt(fee) > 0
      ? `Booking ${o.customerReferenceNo} at ${en(o.hotel?.name)}. Cancelling now costs ${money(fee)} (of ${money(o.totalRate?.netRate)}).`
      : `Booking ${o.customerReferenceNo} at ${en(o.hotel?.name)}. Cancelling now is free of charge.`;
  $('cancel-reason').value = '';
  const dlg = $('cancel-dialog');
  dlg.returnValue = '';
  dlg.onclose = async () => {
    if (dlg.returnValue !== 'cancel') return;
    notice('Cancelling with the supplier…', 'busy');
    try {
      const d = await api('/api/trade/cancel', { customerReferenceNo: o.customerReferenceNo, reason: $('cancel-reason').value || undefined });
      if (d.status === 3) notice(`Booking ${o.customerReferenceNo} cancelled. Cancellation fee: ${money(d.serviceFee)}.`);
      else notice(`The supplier did not cancel booking ${o.customerReferenceNo}: ${d.order?.statusRemark || 'status ' + d.status}.`, 'bad');
    } catch (e) { notice(`Cancel failed: ${e.message}`, 'bad'); }
    await loadBookings();
  };
  dlg.showModal();
}

// ---- start ------------------------------------------------------------------------
show(state.ticket ? 'search' : 'signin', false);
