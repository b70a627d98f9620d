// The sample's chat page: plain ES modules, no build step. The Socket.IO client comes from the
// Socket.IO server itself, the ticket helper is `nestjs-ws-ticket/client` served by the sample.

import { attachTicketAuth } from '/assets/ws-ticket.client.js';

/**
 * The Socket.IO client, or undefined when the server has no Socket.IO server to serve it (the raw
 * WebSocket transport, `npm run sample:ws`). Imported dynamically so that the page can say so
 * instead of failing to load at all.
 */
const io = await import('/socket.io/socket.io.esm.min.js').then(
  (module) => module.io,
  () => undefined,
);

/** Per tab (not localStorage), so two tabs can be two different users. */
const TOKEN_KEY = 'ws-ticket-sample.token';

/** Time limit of one token refresh, milliseconds: well within the helper's 10 s per ticket. */
const REFRESH_TIMEOUT = 5000;

/** What each coded reason means, for people. Codes are shown as they are, next to this text. */
const REASONS = {
  ticket_missing: 'No ticket reached the server; retrying with a fresh one.',
  ticket_malformed: 'The ticket was not well formed; retrying with a fresh one.',
  ticket_invalid: 'The ticket was unknown, expired or already used; retrying with a fresh one.',
  user_rejected: 'The server refuses your account.',
  store_unavailable: 'The ticket store is unavailable; retrying shortly.',
  origin_forbidden: 'This page’s origin may not open sockets (ALLOWED_ORIGINS).',
  ticket_binding_mismatch: 'The ticket was issued to another client.',
  session_expired: 'Your session has ended: the access token expired.',
  connection_limit:
    'Too many connections are open for this account (tabs, devices): close one and reload this page.',
  user_revoked:
    'The server closed your connections: you logged out everywhere or the account was deactivated.',
  ticket_request_unauthorized: 'The ticket endpoint refuses your access token. Sign in again.',
  ticket_request_failed: 'Could not get a ticket; retrying.',
  ticket_request_rejected: 'The ticket endpoint was not found or refused the request (ticketUrl).',
  ticket_url_invalid: 'The ticket endpoint address is not usable (ticketUrl).',
  'transport close': 'The connection to the server was lost; reconnecting with a fresh ticket.',
  'transport error': 'The connection to the server failed; reconnecting with a fresh ticket.',
  'ping timeout': 'The server stopped answering; reconnecting with a fresh ticket.',
  'io server disconnect': 'The server closed the connection.',
  'websocket error': 'The server is unreachable; retrying.',
  'xhr poll error': 'The server is unreachable; retrying.',
};

/** What each room code means (ws-ticket:join refusals, ws-ticket:left), for people. */
const ROOM_REASONS = {
  room_forbidden: 'You may not be in this room: it is someone else’s order, not shared with you.',
  room_malformed: 'That is not a room name the server accepts.',
  room_limit: 'You are in as many rooms as one connection may be: leave one first.',
  rate_limited: 'Too many join attempts: wait a few seconds.',
  room_unavailable: 'The server could not check this room in time; try again.',
  room_revoked: 'The server took you out: the order is no longer shared with you.',
};

/** How long the page waits for the server's answer to a join or a leave, milliseconds. */
const ROOM_ACK_TIMEOUT = 5000;

/** Codes after which only a new sign-in helps: the page offers one and forgets the token. */
const NEEDS_SIGN_IN = new Set([
  'session_expired',
  'user_revoked',
  'user_rejected',
  'ticket_request_unauthorized',
]);

const STATE_LABELS = {
  idle: 'Signed out',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
  unavailable: 'No Socket.IO',
};

const $ = (id) => document.getElementById(id);
const el = {
  connection: $('connection'),
  connectionLabel: $('connection-label'),
  loginView: $('login-view'),
  unavailableView: $('unavailable-view'),
  wsUrl: $('ws-url'),
  loginForm: $('login-form'),
  loginError: $('login-error'),
  loginSubmit: $('login-submit'),
  username: $('username'),
  password: $('password'),
  chatView: $('chat-view'),
  me: $('me'),
  meAvatar: $('me-avatar'),
  meDetail: $('me-detail'),
  logout: $('logout'),
  logoutAll: $('logout-all'),
  notice: $('notice'),
  noticeTitle: $('notice-title'),
  noticeCode: $('notice-code'),
  noticeText: $('notice-text'),
  relogin: $('relogin'),
  messages: $('messages'),
  composer: $('composer'),
  target: $('target'),
  text: $('text'),
  send: $('send'),
  roomButtons: [...document.querySelectorAll('button[data-room]')],
  shareForm: $('share-form'),
  shareOrder: $('share-order'),
  shareUsername: $('share-username'),
  share: $('share'),
  unshare: $('unshare'),
};

/** The running chat: its socket, the ticket helper's handle, and who the server says we are. */
let chat;

/** The token refresh in flight, shared by every caller until it settles. */
let refreshing;

// --- Connection state -------------------------------------------------------------------------

/**
 * Shows the connection state (idle, connecting, connected, reconnecting, closed, or unavailable
 * without Socket.IO) and, unless connected, the coded reason. `data-state` / `data-code` on #connection are what tests read.
 */
function setConnection(state, reason) {
  // The notice above the list takes height from it: keep the latest line in view.
  const atBottom = isScrolledDown();
  renderConnection(state, reason);
  if (atBottom) el.messages.scrollTop = el.messages.scrollHeight;
}

function renderConnection(state, reason) {
  el.connection.dataset.state = state;
  if (reason) el.connection.dataset.code = reason.code;
  else delete el.connection.dataset.code;
  el.connectionLabel.textContent = STATE_LABELS[state];
  if (chat) chat.reason = reason;

  const connected = state === 'connected';
  el.text.disabled = !connected;
  el.send.disabled = !connected;
  el.text.placeholder = connected ? 'Write a message…' : 'Not connected';
  renderRooms();

  if (!reason || connected) {
    el.notice.hidden = true;
    return;
  }
  const closed = state === 'closed';
  el.notice.hidden = false;
  el.notice.dataset.tone = closed ? 'bad' : 'warn';
  el.noticeTitle.textContent = closed ? 'Connection closed' : 'Reconnecting…';
  el.noticeCode.textContent = reason.status
    ? `${reason.code} · HTTP ${reason.status}`
    : reason.code;
  el.noticeText.textContent =
    (REASONS[reason.code] ?? 'The connection dropped.') + (reason.note ? ` ${reason.note}` : '');
  el.relogin.hidden = !(closed && NEEDS_SIGN_IN.has(reason.code));
}

// --- Chat -------------------------------------------------------------------------------------

function startChat() {
  showView('chat');
  el.messages.replaceChildren(emptyLine());
  el.me.textContent = '…';
  el.meDetail.textContent = 'asking the server who you are';
  el.logoutAll.disabled = false;
  el.target.value = '';

  const socket = io('/chat', { autoConnect: false });
  chat = {
    socket,
    me: undefined,
    reason: undefined,
    closedFor: undefined,
    handle: undefined,
    /** Rooms the server said this socket is in (join acks, minus leaves and ws-ticket:left). */
    rooms: new Set(),
  };
  renderRooms();

  // Registered before attachTicketAuth() so that its onRefused report, which comes right after
  // these listeners, has the last word on the state.
  socket.on('connect', () => {
    const wasDown = chat.reason !== undefined;
    setConnection('connected');
    addSystem(wasDown ? 'Reconnected with a fresh ticket.' : 'Connected.');
    void whoami(socket);
    // A new connection is in no room: ask again for those the last one was in (each one is
    // checked again, so one no longer allowed is refused and said so).
    if (!socket.recovered) {
      const previous = [...chat.rooms];
      chat.rooms.clear();
      renderRooms();
      for (const room of previous) void joinRoom(room, { quiet: true });
    }
  });
  socket.on('unauthorized', (payload) => {
    chat.closedFor = payload?.code;
  });
  socket.on('disconnect', (why) => {
    if (why === 'io client disconnect') return;
    const closedFor = chat.closedFor;
    chat.closedFor = undefined;
    setConnection(socket.active ? 'reconnecting' : 'closed', { code: closedFor ?? why });
    addSystem(
      closedFor ? `Disconnected by the server: ${closedFor}.` : `Connection lost (${why}).`,
      true,
    );
  });
  socket.on('connect_error', (error) => {
    // Refusals (socket no longer active) and ticket request failures (which never reach a
    // handshake) are reported by the helper through onRefused.
    if (!socket.active) return;
    setConnection('reconnecting', { code: error.message });
  });
  socket.on('message', (message) => addMessage(message));
  socket.on('room-message', (message) => {
    if (typeof message?.room !== 'string') return;
    addMessage(message);
  });
  // The server took this socket out of a room (an unshare: room_revoked).
  socket.on('ws-ticket:left', (event) => {
    if (typeof event?.room !== 'string' || !chat?.rooms.delete(event.room)) return;
    renderRooms();
    const code = typeof event.code === 'string' ? event.code : 'room_revoked';
    addSystem(`You left ${event.room} (${code}). ${ROOM_REASONS[code] ?? ''}`.trim(), true);
  });
  // The session ends soon: get the next token now. The helper asks getToken for one right after
  // (and joins this refresh); a helper that cannot refresh sessions in place reconnects at the
  // end, with this token. A token that ends no later than the session could not extend it.
  socket.on('ws-ticket:expiring', (event) => {
    if (typeof event?.expiresAt !== 'number') return;
    chat.sessionEnd = event.expiresAt;
    void currentToken(chat.sessionEnd);
  });
  socket.on('exception', (error) => {
    const code = error?.code ?? error?.message?.code ?? 'error';
    const text = error?.message?.message ?? error?.message ?? 'The server refused the message.';
    addSystem(`${code}: ${typeof text === 'string' ? text : 'refused'}`, true);
  });

  chat.handle = attachTicketAuth(socket, {
    ticketUrl: '/api/auth/ws-ticket',
    getToken: () => currentToken(chat?.sessionEnd),
    // Called by helpers that refresh sessions in place (ws-ticket:refresh); tests read the count.
    onRefreshed: () => {
      el.connection.dataset.refreshed = String(Number(el.connection.dataset.refreshed ?? 0) + 1);
    },
    onRefused: (event) => {
      const previous = chat?.reason?.code;
      let reason = { code: event.code, status: event.status };
      // After session_expired or user_revoked, the retry's 401 is a consequence, not the cause.
      if (
        event.code === 'ticket_request_unauthorized' &&
        (previous === 'session_expired' || previous === 'user_revoked')
      ) {
        reason = {
          code: previous,
          note: `The ticket endpoint now refuses the old token (HTTP ${event.status ?? 401}).`,
        };
      }
      setConnection(event.fatal ? 'closed' : 'reconnecting', reason);
      if (event.fatal && NEEDS_SIGN_IN.has(reason.code)) {
        sessionStorage.removeItem(TOKEN_KEY);
        el.logoutAll.disabled = true;
      }
    },
  });

  delete el.connection.dataset.refreshed;
  setConnection('connecting');
  socket.connect();
}

function stopChat() {
  if (!chat) return;
  chat.handle.detach();
  chat.socket.disconnect();
  chat.socket.removeAllListeners();
  chat = undefined;
}

async function whoami(socket) {
  try {
    const user = await socket.timeout(5000).emitWithAck('whoami');
    if (!chat || chat.socket !== socket) return;
    chat.me = user;
    el.me.textContent = user.username;
    el.meDetail.textContent = `user id ${user.id} · whoami on /chat`;
    el.meAvatar.textContent = user.username.slice(0, 1);
    el.meAvatar.style.setProperty('--hue', hue(user.username));
  } catch {
    el.meDetail.textContent = 'the server did not say who you are';
  }
}

function sendMessage(event) {
  event.preventDefault();
  const text = el.text.value;
  if (!chat?.socket.connected || text.trim() === '') return;
  const room = el.target.value;
  if (room) chat.socket.emit('room-message', { room, text });
  else chat.socket.emit('message', { text });
  el.text.value = '';
  el.text.focus();
}

// --- Rooms ------------------------------------------------------------------------------------

/** Asks the server to let this socket into `room` (ws-ticket:join) and says how it answered. */
async function joinRoom(room, { quiet = false } = {}) {
  const socket = chat?.socket;
  if (!socket?.connected) return;
  let ack;
  try {
    ack = await socket.timeout(ROOM_ACK_TIMEOUT).emitWithAck('ws-ticket:join', { room });
  } catch {
    if (chat?.socket === socket) addSystem(`The server did not answer joining ${room}.`, true);
    return;
  }
  if (chat?.socket !== socket) return;
  if (ack?.ok === true) {
    chat.rooms.add(room);
    renderRooms();
    if (!quiet) {
      el.target.value = room;
      addSystem(`You joined ${room}.`);
    }
    return;
  }
  const code = typeof ack?.code === 'string' ? ack.code : 'error';
  addSystem(`Could not join ${room} (${code}). ${ROOM_REASONS[code] ?? ''}`.trim(), true);
}

async function leaveRoom(room) {
  const socket = chat?.socket;
  if (!socket?.connected) return;
  try {
    await socket.timeout(ROOM_ACK_TIMEOUT).emitWithAck('ws-ticket:leave', { room });
  } catch {
    if (chat?.socket === socket) addSystem(`The server did not answer leaving ${room}.`, true);
    return;
  }
  if (chat?.socket !== socket || !chat.rooms.delete(room)) return;
  renderRooms();
  addSystem(`You left ${room}.`);
}

/** Shows which rooms this socket is in (pressed buttons) and offers them as message targets. */
function renderRooms() {
  const connected = chat?.socket.connected === true;
  const joined = chat?.rooms ?? new Set();
  for (const button of el.roomButtons) {
    button.setAttribute('aria-pressed', String(joined.has(button.dataset.room)));
    button.disabled = !connected;
  }
  const selected = el.target.value;
  const options = [new Option('everyone', '')];
  for (const room of joined) options.push(new Option(room, room));
  // A room this socket left stays the target until the user picks another: a message typed for
  // it must never go to everyone instead (the server refuses it: room_forbidden).
  if (selected && !joined.has(selected)) {
    options.push(new Option(`${selected} (not joined)`, selected));
  }
  el.target.replaceChildren(...options);
  el.target.value = selected;
  el.target.disabled = !connected;
}

/** POST /api/orders/:id/share or /unshare for the user named in the form, as the signed-in user. */
async function changeShare(action) {
  const order = el.shareOrder.value;
  const username = el.shareUsername.value.trim();
  if (!chat || username === '') return;
  el.share.disabled = true;
  el.unshare.disabled = true;
  try {
    const response = await fetch(`/api/orders/${encodeURIComponent(order)}/${action}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await currentToken(chat.sessionEnd)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ username }),
    });
    if (response.ok) {
      addSystem(
        action === 'share'
          ? `Order ${order} is shared with ${username}.`
          : `Order ${order} is no longer shared with ${username}.`,
      );
      return;
    }
    const body = await response.json().catch(() => undefined);
    const code = typeof body?.code === 'string' ? body.code : 'error';
    const message = typeof body?.message === 'string' ? ` ${body.message}` : '';
    addSystem(
      `Could not ${action} order ${order} (${code} · HTTP ${response.status}).${message}`,
      true,
    );
  } catch {
    addSystem(`Could not ${action} order ${order}: the server is unreachable.`, true);
  } finally {
    el.share.disabled = false;
    el.unshare.disabled = false;
  }
}

async function logoutEverywhere() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  el.logoutAll.disabled = true;
  const response = await fetch('/api/auth/logout-all', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  }).catch(() => undefined);
  if (!response?.ok) {
    el.logoutAll.disabled = false;
    addSystem(
      `Could not log out everywhere (${response ? `HTTP ${response.status}` : 'offline'}).`,
      true,
    );
    return;
  }
  // The server now closes every socket of this user, this one included, with user_revoked.
  sessionStorage.removeItem(TOKEN_KEY);
  addSystem('Logged out everywhere.');
}

function logout() {
  stopChat();
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
}

// --- Access token -----------------------------------------------------------------------------

/**
 * The stored access token for the next ticket, refreshed first at POST /api/auth/refresh once it
 * is past half its lifetime, or when it ends no later than `sessionEnd` (epoch ms, from the
 * server's ws-ticket:expiring). So both a socket's in-place refresh and a reconnect get a ticket
 * with a later session end. A token that cannot be refreshed (401 after a logout-all or once
 * expired, the server unreachable) is returned as it is: the ticket request then fails the way it
 * always did, and the page offers a new sign-in when that is all that helps.
 */
function currentToken(sessionEnd) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token || !refreshDue(token, sessionEnd)) return token;
  refreshing ??= refreshToken(token).finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

function refreshDue(token, sessionEnd) {
  const claims = tokenClaims(token);
  // Not a JWT the page can read: leave it to the server to refuse.
  if (typeof claims?.iat !== 'number' || typeof claims?.exp !== 'number') return false;
  // By this device's clock: one far off refreshes too early or too late (the server alone says
  // whether a token is still valid).
  const now = Date.now() / 1000;
  return (
    now - claims.iat >= (claims.exp - claims.iat) / 2 || claims.exp * 1000 <= (sessionEnd ?? 0)
  );
}

async function refreshToken(token) {
  const response = await fetch('/api/auth/refresh', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(REFRESH_TIMEOUT),
  }).catch(() => undefined);
  const fresh = response?.ok
    ? await response.json().then(
        (body) => body?.access_token,
        () => undefined,
      )
    : undefined;
  // Signed out, or in as someone else, while the request ran: that wins over this answer.
  if (sessionStorage.getItem(TOKEN_KEY) !== token) return sessionStorage.getItem(TOKEN_KEY);
  if (typeof fresh !== 'string' || fresh === '') return token;
  sessionStorage.setItem(TOKEN_KEY, fresh);
  return fresh;
}

/** The payload of a JWT (base64url JSON), or undefined when `token` is not one. */
function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) =>
      c.charCodeAt(0),
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims !== null && typeof claims === 'object' ? claims : undefined;
  } catch {
    return undefined;
  }
}

// --- Sign-in ----------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  el.loginError.hidden = true;
  el.loginSubmit.disabled = true;
  try {
    const response = await fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: el.username.value.trim(), password: el.password.value }),
    });
    if (!response.ok) {
      showLoginError(
        response.status === 401
          ? 'Wrong username or password.'
          : `Sign-in failed (HTTP ${response.status}).`,
      );
      return;
    }
    const { access_token: token } = await response.json();
    sessionStorage.setItem(TOKEN_KEY, token);
    el.password.value = '';
    startChat();
  } catch {
    showLoginError('The server is unreachable.');
  } finally {
    el.loginSubmit.disabled = false;
  }
}

function showLoginError(text) {
  el.loginError.textContent = text;
  el.loginError.hidden = false;
}

function showLogin() {
  setConnection('idle');
  showView('login');
  if (el.username.value) el.password.focus();
  else el.username.focus();
}

function showView(name) {
  el.loginView.hidden = name !== 'login';
  el.chatView.hidden = name !== 'chat';
  el.unavailableView.hidden = name !== 'unavailable';
}

/** Without Socket.IO there is nothing to sign in for: say why, and where the raw chat lives. */
function showUnavailable() {
  setConnection('unavailable');
  el.wsUrl.textContent = `${location.origin.replace(/^http/, 'ws')}/ws/chat`;
  showView('unavailable');
}

// --- Rendering (textContent only: message text is never parsed as HTML) -------------------------

function addMessage({ from, text, room }) {
  const mine = from === chat?.me?.username;
  const item = document.createElement('li');
  item.className = mine ? 'message mine' : 'message';
  if (room !== undefined) item.dataset.room = String(room);

  const avatar = document.createElement('span');
  avatar.className = 'avatar';
  avatar.setAttribute('aria-hidden', 'true');
  avatar.textContent = String(from).slice(0, 1);
  avatar.style.setProperty('--hue', hue(String(from)));

  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const author = document.createElement('span');
  author.className = 'from';
  author.textContent = mine ? `${from} (you)` : String(from);
  const time = document.createElement('time');
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  meta.append(author);
  if (room !== undefined) {
    const tag = document.createElement('span');
    tag.className = 'room-tag';
    tag.textContent = `in ${room}`;
    meta.append(tag);
  }
  meta.append(time);
  const body = document.createElement('p');
  body.className = 'text';
  body.textContent = String(text);
  bubble.append(meta, body);

  item.append(avatar, bubble);
  append(item);
}

function addSystem(text, bad = false) {
  const item = document.createElement('li');
  item.className = bad ? 'system bad' : 'system';
  item.textContent = text;
  append(item);
}

function emptyLine() {
  const item = document.createElement('li');
  item.className = 'empty';
  item.textContent = 'No messages yet. Say hello!';
  return item;
}

function append(item) {
  el.messages.querySelector('.empty')?.remove();
  const atBottom = isScrolledDown();
  el.messages.append(item);
  if (atBottom) el.messages.scrollTop = el.messages.scrollHeight;
}

function isScrolledDown() {
  return el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40;
}

/** A stable colour per user name. */
function hue(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return String(hash);
}

// --- Wiring -----------------------------------------------------------------------------------

el.loginForm.addEventListener('submit', login);
el.composer.addEventListener('submit', sendMessage);
for (const button of el.roomButtons) {
  button.addEventListener('click', () => {
    const room = button.dataset.room;
    if (chat?.rooms.has(room)) void leaveRoom(room);
    else void joinRoom(room);
  });
}
el.shareForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void changeShare('share');
});
el.unshare.addEventListener('click', () => void changeShare('unshare'));
el.logout.addEventListener('click', logout);
el.logoutAll.addEventListener('click', logoutEverywhere);
el.relogin.addEventListener('click', () => {
  const username = chat?.me?.username;
  stopChat();
  sessionStorage.removeItem(TOKEN_KEY);
  if (username) el.username.value = username;
  showLogin();
});

// Enabled only now: the form does nothing useful before its submit listener is wired.
el.loginSubmit.disabled = false;

if (!io) showUnavailable();
else if (sessionStorage.getItem(TOKEN_KEY)) startChat();
else showLogin();
