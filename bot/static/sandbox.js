// The sandbox chat page. Three rules: the typed text stays in the box until the server has stored
// it; one poll at a time, never overlapping; every message is shown once (by kind and id), in order.
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

  const IDLE_MS = 1500; // poll interval while nothing happens
  const FAST_MS = 250; // right after a send, while the reply is on its way
  const FAST_FOR_MS = 4000;
  const RETRY_MAX_MS = 10000; // back-off ceiling while the server cannot be reached

  let chatShown = null; // the chat the log shows
  let seen = new Set(); // 'user:12', 'bot:7'
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
    inAfter = 0;
    outAfter = 0;
    chatShown = chat;
  }

  // The server's order: time, then the user's line before the bot's answer, then id.
  function before(a, b) {
    if (a.at !== b.at) return a.at < b.at;
    if (a.rank !== b.rank) return a.rank < b.rank;
    return a.id < b.id;
  }

  function add(e) {
    const key = `${e.kind}:${e.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    const order = { at: e.at, rank: e.kind === 'bot' ? 1 : 0, id: Number(e.id) };
    const div = document.createElement('div');
    div.className = `msg ${e.kind}`;
    div.dataset.id = key;
    div.order = order;
    const who = document.createElement('div');
    who.className = 'who';
    who.textContent = e.kind === 'user' ? e.as : page.botName;
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    bubble.textContent = e.text; // text only: nothing typed becomes markup
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

  // One id per typed message: sending the same text again after a failure reuses it, so a message
  // the server stored before its answer was lost is not stored twice.
  function messageId(text, chat, as) {
    if (unsent && unsent.text === text && unsent.chat === chat && unsent.as === as) return unsent.id;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    unsent = { text, chat, as, id };
    return id;
  }

  async function send(text, chat, as) {
    const id = messageId(text, chat, as);
    let response;
    try {
      response = await fetch('/sandbox/api/send', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ chat, as, text, id }),
      });
    } catch (err) {
      showStatus('send', '连不上服务器，消息没有发送（还在输入框里）：请确认 genjin serve 正在运行');
      return;
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
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

  chatInput.addEventListener('change', () => poll());
  poll();
})();
