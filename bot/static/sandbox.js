// The sandbox chat page. Three rules: the typed text stays in the box until the server has stored
// it; one poll at a time, never overlapping; every message is shown once (by kind and id), in order.
// Cards are drawn as a platform draws them (buttons, forms, charts); a tap goes to the server as a
// platform's card callback would, and an update replaces its card in place. Every string from the
// server is put into the page as text (textContent, createTextNode): nothing becomes markup.
'use strict';
(() => {
  const page = document.body.dataset;
  const MAX_TEXT = Number(page.maxText);
  const log = document.getElementById('log');
  const form = document.getElementById('f');
  const input = document.getElementById('text');
  const button = document.getElementById('send');
  const chatInput = document.getElementById('chat');
  const asInput = document.getElementById('as');
  const statusLine = document.getElementById('status');
  const toastBox = document.getElementById('toast');
  const runForm = document.getElementById('run');
  const jobSelect = document.getElementById('job');
  const runButton = document.getElementById('run-now');
  const SVG = 'http://www.w3.org/2000/svg';

  const IDLE_MS = 1500; // poll interval while nothing happens
  const FAST_MS = 250; // right after a send, while the reply is on its way
  const FAST_FOR_MS = 4000;
  const RETRY_MAX_MS = 10000; // back-off ceiling while the server cannot be reached
  const TOAST_MS = 4000;

  let chatShown = null; // the chat the log shows
  let seen = new Set(); // 'user:12', 'bot:7'
  let cards = new Map(); // card id (its message id, else 'outbox id') → {bubble, updated}
  let inAfter = 0;
  let outAfter = 0;
  let polling = false;
  let pollAgain = false;
  let timer = null;
  let fastUntil = 0;
  let failures = 0;
  let sending = false;
  let statusKind = null; // 'send' or 'poll': a send failure is not hidden by a poll failure
  let unsent = null; // {text, id} of the last message whose storing was not confirmed
  let unsentTap = null; // {key, id} of the last tap whose storing was not confirmed
  const waitingTaps = new Set(); // message ids of taps whose answer is still on its way
  let toastTimer = null;

  function showStatus(kind, text) {
    if (kind === 'poll' && statusKind === 'send') return;
    statusKind = kind;
    statusLine.textContent = text;
    statusLine.hidden = false;
  }

  function clearStatus(kind) {
    if (statusKind !== kind) return;
    statusKind = null;
    statusLine.textContent = '';
    statusLine.hidden = true;
  }

  function showToast(text, kind) {
    if (!text) return;
    toastBox.textContent = text;
    toastBox.className = kind || 'success';
    toastBox.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toastBox.hidden = true;
    }, TOAST_MS);
  }

  function describe(status, data) {
    if (data && typeof data.error === 'string') return data.error;
    if (status === 413) return `消息太长：最多 ${MAX_TEXT} 字`;
    if (status === 401) return '需要访问密钥：请刷新页面并输入密钥';
    if (status >= 500) return `服务器出错（HTTP ${status}），请稍后再试`;
    return `请求被拒绝（HTTP ${status}）`;
  }

  function currentChat() {
    return chatInput.value.trim().slice(0, 64);
  }

  function showChat(chat) {
    if (chat === chatShown) return;
    log.textContent = '';
    seen = new Set();
    cards = new Map();
    inAfter = 0;
    outAfter = 0;
    chatShown = chat;
  }

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- cards -------------------------------------------------------------------------------------

  // A line as the platforms show it: **bold** spans, everything else plain text.
  function lineNode(text) {
    const div = el('div', 'line');
    text.split(/(\*\*[^*]+\*\*)/).forEach((part) => {
      if (/^\*\*[^*]+\*\*$/.test(part)) div.append(el('strong', '', part.slice(2, -2)));
      else if (part) div.append(document.createTextNode(part));
    });
    return div;
  }

  function tableNode(table) {
    const node = el('table');
    const head = node.createTHead().insertRow();
    table.columns.forEach((c) => head.append(el('th', '', c)));
    const body = node.createTBody();
    table.rows.forEach((row) => {
      const tr = body.insertRow();
      row.forEach((cell) => tr.append(el('td', '', cell)));
    });
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtValue(value, unit) {
    const shown = Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
    return `${shown}${unit || ''}`;
  }

  // A chart as inline SVG: bars (one row per label, a bar per series), a funnel, or lines.
  function chartNode(chart) {
    const box = el('div', 'chart');
    const series = chart.series.filter((s) => s.values.length === chart.labels.length);
    if (!chart.labels.length || !series.length) return box;
    if (chart.title) box.append(el('div', 'chart-title', `📊 ${chart.title}`));
    const all = series.flatMap((s) => s.values);
    const scale = chart.unit === '%' ? 100 : Math.max(...all, 0) || 1;
    const W = 420;
    const LABEL = 96;
    const BAR_W = W - LABEL - 70;
    let picture;
    if (chart.kind === 'line') {
      const H = 150;
      const step = chart.labels.length > 1 ? (W - 60) / (chart.labels.length - 1) : 0;
      const x = (i) => 30 + i * step;
      const y = (v) => 20 + (H - 50) * (1 - Math.min(v, scale) / scale);
      picture = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
      picture.append(svg('line', { x1: 30, y1: H - 30, x2: W - 30, y2: H - 30, class: 'axis' }));
      chart.labels.forEach((label, i) => {
        picture.append(svg('text', { x: x(i), y: H - 12, 'text-anchor': 'middle' }, label));
      });
      series.forEach((s, n) => {
        const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
        picture.append(svg('polyline', { points, class: `s${n % 4}` }));
        s.values.forEach((v, i) => {
          const dot = svg('circle', { cx: x(i), cy: y(v), r: 3, class: `s${n % 4}` });
          dot.append(svg('title', {}, `${s.name} ${chart.labels[i]}：${fmtValue(v, chart.unit)}`));
          picture.append(dot);
          picture.append(svg('text', { x: x(i), y: y(v) - 6, 'text-anchor': 'middle' }, fmtValue(v, chart.unit)));
        });
      });
    } else if (chart.kind === 'funnel') {
      const values = series[0].values;
      const ROW = 26;
      const H = ROW * values.length + 4;
      picture = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
      values.forEach((v, i) => {
        const width = Math.max(v > 0 ? 4 : 0, (BAR_W * Math.min(v, scale)) / scale);
        const left = LABEL + (BAR_W - width) / 2;
        picture.append(svg('text', { x: 0, y: i * ROW + 17 }, chart.labels[i]));
        picture.append(svg('rect', { x: left, y: i * ROW + 3, width, height: ROW - 6, rx: 3, class: 's0' }));
        let shown = fmtValue(v, chart.unit);
        if (i > 0 && values[i - 1] > 0) shown += `（${Math.round((100 * v) / values[i - 1])}%）`;
        picture.append(svg('text', { x: LABEL + BAR_W + 6, y: i * ROW + 17 }, shown));
      });
    } else {
      const BAR = 14;
      const ROW = BAR * series.length + 10;
      const H = ROW * chart.labels.length + 4;
      picture = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
      chart.labels.forEach((label, i) => {
        picture.append(svg('text', { x: 0, y: i * ROW + 5 + (BAR * series.length) / 2 + 4 }, label));
        series.forEach((s, n) => {
          const v = s.values[i];
          const width = Math.max(v > 0 ? 2 : 0, (BAR_W * Math.min(v, scale)) / scale);
          const top = i * ROW + 5 + n * BAR;
          picture.append(svg('rect', { x: LABEL, y: top, width, height: BAR - 2, rx: 2, class: `s${n % 4}` }));
          picture.append(svg('text', { x: LABEL + width + 4, y: top + BAR - 4 }, fmtValue(v, chart.unit)));
        });
      });
    }
    picture.setAttribute('aria-label', chart.title || '图表');
    box.append(picture);
    if (series.length > 1) {
      const legend = el('div', 'legend');
      series.forEach((s, n) => {
        const item = el('span');
        item.append(el('i', `s${n % 4}`), document.createTextNode(s.name));
        legend.append(item);
      });
      box.append(legend);
    }
    return box;
  }

  function formNode(cardId, section, btn, sectionNode) {
    const node = el('form', 'card-form');
    node.dataset.action = btn.action;
    btn.form.fields.forEach((f) => {
      const label = el('label');
      label.append(el('span', '', f.label));
      let field;
      if (f.kind === 'select') {
        field = el('select');
        f.options.forEach((o) => {
          const option = el('option', '', o.label);
          option.value = o.value;
          if (o.value === f.default) option.selected = true;
          field.append(option);
        });
      } else {
        field = el('input');
        field.type = f.kind === 'date' ? 'date' : 'text';
        if (f.kind !== 'date') field.maxLength = MAX_TEXT;
        field.placeholder = f.placeholder || '';
        field.value = f.default || '';
      }
      field.name = f.name;
      field.required = Boolean(f.required);
      label.append(field);
      node.append(label);
    });
    const buttons = el('div', 'form-buttons');
    const submit = el('button', '', btn.form.submit || '提交');
    submit.type = 'submit';
    const cancel = el('button', '', '取消');
    cancel.type = 'button';
    cancel.addEventListener('click', () => node.remove());
    buttons.append(submit, cancel);
    node.append(buttons);
    node.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const values = {};
      btn.form.fields.forEach((f) => {
        values[f.name] = node.elements.namedItem(f.name).value;
      });
      tap(cardId, btn, values, sectionNode);
    });
    return node;
  }

  function openForm(cardId, section, btn, sectionNode) {
    const open = sectionNode.querySelector('.card-form');
    const same = open && open.dataset.action === btn.action;
    if (open) open.remove();
    if (same) return; // a second tap on the button closes its form
    const node = formNode(cardId, section, btn, sectionNode);
    sectionNode.append(node);
    const first = node.querySelector('input, select');
    if (first) first.focus();
  }

  function sectionNode(cardId, section) {
    const node = el('div', 'card-section');
    if (section.key) node.dataset.key = section.key;
    if (section.heading) node.append(el('div', 'sec-heading', section.heading));
    section.lines.forEach((line) => node.append(lineNode(line)));
    if (section.table) node.append(tableNode(section.table));
    if (section.chart) node.append(chartNode(section.chart));
    if (section.buttons.length) {
      const actions = el('div', 'actions');
      section.buttons.forEach((btn) => {
        const b = el('button', btn.style || 'default', btn.label);
        b.type = 'button';
        b.addEventListener('click', () => {
          if (btn.form) openForm(cardId, section, btn, node);
          else tap(cardId, btn, {}, node);
        });
        actions.append(b);
      });
      node.append(actions);
      const shown = section.buttons.find((btn) => btn.form && btn.action === section.open_form);
      if (shown) node.append(formNode(cardId, section, shown, node));
    } else if (section.key) {
      node.classList.add('acted');
    }
    return node;
  }

  function cardNode(cardId, card) {
    const node = el('div', 'card');
    node.dataset.card = cardId;
    const head = el('div', 'card-head');
    head.append(el('div', 'card-title', card.title));
    if (card.subtitle) head.append(el('div', 'card-sub', card.subtitle));
    node.append(head);
    card.sections.forEach((section) => node.append(sectionNode(cardId, section)));
    return node;
  }

  // A card message: its own text (if any) above the card.
  function fillCard(bubble, body, card, cardId) {
    bubble.textContent = '';
    bubble.classList.add('with-card');
    if (body) bubble.append(el('div', 'body', body));
    bubble.append(cardNode(cardId, card));
  }

  // -- the transcript ----------------------------------------------------------------------------

  // The server's order: time, then the user's line before the bot's answer, then id.
  function before(a, b) {
    if (a.at !== b.at) return a.at < b.at;
    if (a.rank !== b.rank) return a.rank < b.rank;
    return a.id < b.id;
  }

  // An update replaces its card (the newest update wins); true when it did.
  function applyUpdate(e) {
    const shown = cards.get(e.update_of);
    if (!shown) return false;
    if (e.card && e.id > shown.updated) {
      shown.updated = e.id;
      fillCard(shown.bubble, shown.body, e.card, e.update_of); // the card changes, its text stays
    }
    return true;
  }

  function add(e) {
    const key = `${e.kind}:${e.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (e.kind === 'bot' && waitingTaps.delete(e.reply_to)) showToast(e.toast, e.toast_kind);
    if (e.kind === 'bot' && e.update_of && applyUpdate(e)) return;
    const order = { at: e.at, rank: e.kind === 'bot' ? 1 : 0, id: Number(e.id) };
    const div = document.createElement('div');
    const toastOnly = e.kind === 'bot' && e.toast && !e.card;
    div.className = `msg ${e.kind}${e.tap ? ' tap' : ''}${toastOnly ? ' notice' : ''}`;
    div.dataset.id = key;
    div.order = order;
    const who = document.createElement('div');
    who.className = 'who';
    who.textContent = e.kind === 'user' ? e.as : page.botName;
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    if (e.kind === 'bot' && e.card) {
      const cardId = e.update_of || e.message_id || String(e.id);
      const body = e.update_of ? '' : e.body;
      fillCard(bubble, body, e.card, cardId);
      cards.set(cardId, { bubble, body, updated: e.update_of ? e.id : 0 });
    } else {
      bubble.textContent = e.text; // text only: nothing typed becomes markup
    }
    div.append(who, bubble);
    let next = null;
    for (let node = log.lastElementChild; node && before(order, node.order); node = node.previousElementSibling) {
      next = node;
    }
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.insertBefore(div, next);
    if (atBottom || e.kind === 'user') log.scrollTop = log.scrollHeight;
  }

  async function pollOnce() {
    const chat = currentChat();
    showChat(chat);
    const query = new URLSearchParams({ chat, in_after: inAfter, out_after: outAfter });
    let response;
    let data;
    try {
      response = await fetch(`/sandbox/api/messages?${query}`, { cache: 'no-store' });
      data = await response.json();
    } catch (err) {
      showStatus('poll', '连不上服务器，正在重试…');
      return false;
    }
    if (!response.ok) {
      showStatus('poll', `读取消息失败：${describe(response.status, data)}`);
      return false;
    }
    clearStatus('poll');
    if (chat !== currentChat()) {
      pollAgain = true; // the chat was changed meanwhile: this answer is for the old one
      return true;
    }
    data.events.forEach(add);
    inAfter = Math.max(inAfter, data.in_after);
    outAfter = Math.max(outAfter, data.out_after);
    if (data.more) pollAgain = true;
    return true;
  }

  async function poll() {
    if (polling) {
      pollAgain = true; // asked while one runs: run again right after it, never beside it
      return;
    }
    polling = true;
    clearTimeout(timer);
    let ok = true;
    try {
      do {
        pollAgain = false;
        ok = await pollOnce();
      } while (ok && pollAgain);
    } finally {
      polling = false;
      failures = ok ? 0 : failures + 1;
      let delay = Date.now() < fastUntil ? FAST_MS : IDLE_MS;
      if (!ok) delay = Math.min(RETRY_MAX_MS, IDLE_MS * 2 ** failures);
      timer = setTimeout(poll, delay);
    }
  }

  // POST JSON; answers {response, data} or null when the server cannot be reached.
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (err) {
      return null;
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    return { response, data };
  }

  // One id per typed message: sending the same text again after a failure reuses it, so a message
  // the server stored before its answer was lost is not stored twice.
  function messageId(text, chat, as) {
    if (unsent && unsent.text === text && unsent.chat === chat && unsent.as === as) return unsent.id;
    const id = randomId();
    unsent = { text, chat, as, id };
    return id;
  }

  async function send(text, chat, as) {
    const id = messageId(text, chat, as);
    const answer = await post('/sandbox/api/send', { chat, as, text, id });
    if (answer === null) {
      showStatus('send', '连不上服务器，消息没有发送（还在输入框里）：请确认 genjin serve 正在运行');
      return;
    }
    const { response, data } = answer;
    if (!response.ok) {
      showStatus('send', `${describe(response.status, data)}（消息没有发送，还在输入框里）`);
      return;
    }
    clearStatus('send');
    unsent = null;
    if (input.value === text) input.value = ''; // stored: now it may go
    if (data && data.event && chat === currentChat()) {
      showChat(chat);
      add(data.event);
    }
    fastUntil = Date.now() + FAST_FOR_MS;
    poll();
  }

  // A tap on a card button (with its form's values), answered like a platform's card callback:
  // the toast shows, the card is replaced by its update. The same tap retried reuses its id.
  async function tap(cardId, btn, values, node) {
    const chat = currentChat();
    const as = asInput.value.trim();
    if (!as) {
      showStatus('send', '请先填写“我是”：以哪位同事的身份点按钮');
      return;
    }
    const body = { chat, as, card: cardId, verb: btn.action, target: btn.target, arg: btn.arg, form: values };
    const tapKey = JSON.stringify(body);
    if (!unsentTap || unsentTap.key !== tapKey) unsentTap = { key: tapKey, id: randomId() };
    body.id = unsentTap.id;
    const controls = node.querySelectorAll('button, input, select');
    controls.forEach((c) => {
      c.disabled = true;
    });
    const answer = await post('/sandbox/api/action', body);
    controls.forEach((c) => {
      c.disabled = false;
    });
    if (answer === null) {
      showStatus('send', '连不上服务器，这次点击没有送达：请确认 genjin serve 正在运行后再点一次');
      return;
    }
    const { response, data } = answer;
    if (!response.ok) {
      showStatus('send', `${describe(response.status, data)}（这次点击没有送达）`);
      return;
    }
    clearStatus('send');
    unsentTap = null;
    if (chat !== currentChat()) return;
    if (data.pending) waitingTaps.add(`sandbox-tap-${body.id}`);
    add(data.event);
    data.replies.forEach((reply) => {
      showToast(reply.toast, reply.toast_kind);
      add(reply);
    });
    if (data.pending && !data.replies.length) showToast('已收到，正在处理…', 'info');
    fastUntil = Date.now() + FAST_FOR_MS;
    poll();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return; // one at a time, in order; the text waits in the box
    const text = input.value;
    if (!text.trim()) return;
    const chat = currentChat();
    const as = asInput.value.trim();
    if (!chat) {
      showStatus('send', '请先填写“群”（消息还在输入框里）');
      return;
    }
    if (!as) {
      showStatus('send', '请先填写“我是”：以哪位同事的身份发言（消息还在输入框里）');
      return;
    }
    sending = true;
    button.disabled = true;
    try {
      await send(text, chat, as);
    } finally {
      sending = false;
      button.disabled = false;
      input.focus();
    }
  });

  // Run a scheduled message (the morning nudge …) for this chat now, as its time had come.
  runForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const chat = currentChat();
    const title = jobSelect.options[jobSelect.selectedIndex].text;
    runButton.disabled = true;
    try {
      const answer = await post('/sandbox/api/run', { chat, job: jobSelect.value });
      if (answer === null) {
        showStatus('send', '连不上服务器，定时消息没有运行：请确认 genjin serve 正在运行');
        return;
      }
      const { response, data } = answer;
      if (!response.ok) {
        showStatus('send', `${title}没有运行：${describe(response.status, data)}`);
        return;
      }
      clearStatus('send');
      showToast(data.posted ? `已运行${title}` : `${title}：现在没有要发的内容`, data.posted ? 'success' : 'info');
      fastUntil = Date.now() + FAST_FOR_MS;
      poll();
    } finally {
      runButton.disabled = false;
    }
  });

  chatInput.addEventListener('change', () => poll());
  poll();
})();
