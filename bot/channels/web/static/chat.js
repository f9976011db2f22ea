// Waymark web chat: live updates over a WebSocket. Without this script the page still works as a form.
// Everything a person or the bot wrote is inserted with textContent, never as HTML.
//
// No message is lost: each message carries an id, and the page keeps it (shown as "Sending…") until
// the server says it was saved. After a reconnect it sends it again with the same id; the server
// drops an id it has already handled, so a message is never saved twice. When the server says it
// could not save one, the text goes back into the box and the page says so.
"use strict";
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  if (!log || !form) { return; }
  var list = log.querySelector("ol");
  var scroller = document.getElementById("scroller");
  var box = document.getElementById("message");
  var choices = document.getElementById("choices");
  var status = document.getElementById("status");
  var csrf = form.elements.namedItem("csrf").value;
  var midField = form.elements.namedItem("mid");
  var lastId = parseInt(log.getAttribute("data-last-id") || "0", 10);
  var MAX = parseInt(box.getAttribute("data-max") || "4000", 10);
  var EMPTY = form.getAttribute("data-empty") || "Type a message in the box first, or tap one of the choices.";
  var baseTitle = document.title;
  var unread = 0;
  var socket = null;
  var open = false;
  var retry = 500;
  var failures = 0; // connection attempts in a row that never opened
  var plainForm = false; // the WebSocket seems blocked: messages go as ordinary form posts
  var GIVE_UP_AFTER = 3;
  var SLOW_MS = 6000;
  var unacked = []; // {mid, data, text, button, shown, bubble}: sent, not yet saved by the server
  // sessionStorage: what is not yet saved outlives a reload of this tab. Keyed by this session's
  // token, so after a sign-out another person signing in on the same tab never sends it as theirs.
  var HELD = "waymark-unsaved-" + csrf;
  var pressed = null; // the data of the choice just pressed, until the answer to it arrives

  function say(text, problem) {
    status.textContent = text;
    status.className = problem ? "status problem" : "status";
  }

  function number(n) { return n.toLocaleString("en-GB"); }

  function messageId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function showUnread() {
    document.title = unread > 0 ? "(" + unread + ") " + baseTitle : baseTitle;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unread = 0; showUnread(); }
  });

  // --- showing the conversation -------------------------------------------------------------------

  function setChoices(rows) {
    while (choices.firstChild) { choices.removeChild(choices.firstChild); }
    rows.forEach(function (row) {
      row.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "submit";
        // The same classes as the page's own (pages.py): Save filled, Discard red, so never mistaken.
        button.className = (b.style === "primary" || b.style === "danger") ? "choice choice-" + b.style : "choice";
        button.setAttribute("form", "composer");
        button.setAttribute("dir", "auto");
        button.name = "button";
        button.value = b.data;
        button.textContent = b.label;
        choices.appendChild(button);
      });
    });
  }

  function addLine(line) {
    if (line.id <= lastId) { return false; }
    lastId = line.id;
    var item = document.createElement("li");
    item.className = "msg msg-" + (line.dir === "in" ? "in" : "out");
    item.setAttribute("data-id", String(line.id));
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = line.dir === "in" ? "You: " : "Waymark: ";
    item.appendChild(who);
    var p = document.createElement("p");
    p.className = "text";
    p.setAttribute("dir", "auto");
    p.textContent = line.text;
    item.appendChild(p);
    if (line.image) {
      var link = document.createElement("a");
      link.className = "media-link";
      link.href = line.image.url;
      link.target = "_blank";
      link.rel = "noopener";
      var img = document.createElement("img");
      img.className = "media";
      img.src = line.image.url;
      img.alt = line.image.alt || line.image.name;
      img.addEventListener("load", reveal);
      link.appendChild(img);
      var hint = document.createElement("span");
      hint.className = "media-hint";
      hint.textContent = "Open full size";
      link.appendChild(hint);
      item.appendChild(link);
    }
    if (line.file) {
      var a = document.createElement("a");
      a.className = "file";
      a.href = line.file.url;
      a.setAttribute("download", line.file.name);
      a.textContent = "Download " + line.file.name;
      item.appendChild(a);
    }
    var before = list.querySelector(".msg-pending");
    list.insertBefore(item, before); // messages still sending stay last
    var old = document.getElementById("latest");
    if (old) { old.removeAttribute("id"); }
    item.id = "latest";
    if (line.dir === "in") {
      setChoices([]);
    } else {
      if (line.buttons && line.buttons.length) { setChoices(line.buttons); }
      if (document.hidden) { unread += 1; showUnread(); }
    }
    return true;
  }

  function newest() {
    var items = list.querySelectorAll(".msg:not(.msg-pending)");
    return items.length ? items[items.length - 1] : null;
  }

  // Show the newest message from its top, with its choices below it: scroll to the end, unless that
  // would push the start of the newest message off the top, then start at the newest message.
  function reveal() {
    var latest = newest();
    scroller.scrollTop = scroller.scrollHeight;
    if (!latest) { return; }
    var top = latest.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
    if (top < 0) { scroller.scrollTop += top - 8; }
  }

  function visible(element) {
    var r = element.getBoundingClientRect();
    var s = scroller.getBoundingClientRect();
    return r.top >= s.top && r.bottom <= s.bottom;
  }

  // After a choice: a choice that is still offered (a skill toggled on or off) keeps focus; a new
  // question focuses its first choice; a question that wants typing focuses the box.
  function placeFocus() {
    if (pressed === null) { return; }
    var buttons = choices.querySelectorAll("button");
    var target = null;
    for (var i = 0; i < buttons.length; i += 1) {
      if (buttons[i].value === pressed) { target = buttons[i]; }
    }
    target = target || buttons[0] || box;
    pressed = null;
    target.focus({ preventScroll: true });
    if (target !== box && !visible(target)) { target.scrollIntoView({ block: "nearest" }); }
  }

  function showLines(lines) {
    var added = false;
    lines.forEach(function (line) { added = addLine(line) || added; });
    if (!added) { return; }
    reveal();
    placeFocus();
  }

  // --- sending, and keeping what was sent until it is saved ---------------------------------------

  function pendingBubble(text) {
    var item = document.createElement("li");
    item.className = "msg msg-in msg-pending";
    var p = document.createElement("p");
    p.className = "text";
    p.setAttribute("dir", "auto");
    p.textContent = text;
    item.appendChild(p);
    var note = document.createElement("p");
    note.className = "pending-note";
    note.textContent = "Sending…";
    item.appendChild(note);
    list.appendChild(item);
    return item;
  }

  function remember() {
    try {
      window.sessionStorage.setItem(HELD, JSON.stringify(unacked.map(function (m) {
        return { mid: m.mid, data: m.data, text: m.text, button: m.button, shown: m.shown };
      })));
    } catch (e) { /* storage refused (private mode, full): the page still holds them until closed */ }
  }

  function restore() {
    var held = [];
    try { held = JSON.parse(window.sessionStorage.getItem(HELD) || "[]"); } catch (e) { held = []; }
    held.forEach(function (m) {
      if (m && typeof m.mid === "string" && typeof m.data === "string") {
        m.bubble = pendingBubble(String(m.shown || ""));
        unacked.push(m);
      }
    });
    if (unacked.length) { say("Not saved yet — sending again…", true); }
  }

  function markUnsaved() {
    if (!unacked.length) { return; }
    unacked.forEach(function (m) { m.bubble.lastChild.textContent = "Not saved yet — sending again"; });
    say("Not saved yet — sending again…", true);
  }

  function send(payload, shown) {
    var mid = messageId();
    payload.mid = mid;
    var message = { mid: mid, data: JSON.stringify(payload), text: payload.text, button: payload.button,
                    shown: shown, bubble: pendingBubble(shown) };
    unacked.push(message);
    remember();
    reveal();
    if (open) { socket.send(message.data); }
    say("Sending…");
    window.setTimeout(function () {
      if (unacked.indexOf(message) !== -1) { markUnsaved(); }
    }, SLOW_MS);
  }

  function acknowledged(ack) {
    var message = null;
    for (var i = 0; i < unacked.length; i += 1) {
      if (unacked[i].mid === ack.mid) { message = unacked[i]; unacked.splice(i, 1); break; }
    }
    if (!message) { return; }
    remember();
    if (message.bubble.parentNode) { message.bubble.parentNode.removeChild(message.bubble); }
    if (ack.saved) {
      if (!unacked.length) { say(""); }
      return;
    }
    pressed = null;
    if (message.text !== undefined) {
      // Back in the box, in front of anything typed since, so nothing is lost.
      box.value = box.value ? message.text + "\n" + box.value : message.text;
      grow();
      say("Couldn't save that, so it's back in the box: try again. " + (ack.text || ""), true);
    } else {
      say("Couldn't save your choice: tap it again. " + (ack.text || ""), true);
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/ws?csrf=" + encodeURIComponent(csrf) + "&after=" + lastId;
    socket = new WebSocket(url);
    var opened = false;
    socket.onopen = function () {
      open = true;
      opened = true;
      retry = 500;
      failures = 0;
      plainForm = false;
      if (status.textContent.indexOf("Reconnecting") === 0 || status.textContent.indexOf("Live updates") === 0) {
        say("");
      }
      // Everything not yet saved goes again, in order, with the same ids: the server keeps each once.
      unacked.forEach(function (m) { socket.send(m.data); });
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "lines") {
        showLines(message.lines);
      } else if (message.type === "ack") {
        acknowledged(message);
      } else if (message.type === "signed_out") {
        window.location.assign("/signin?out=1");
      } else if (message.type === "error") {
        say(message.text, true);
      }
    };
    socket.onclose = function () {
      open = false;
      if (!opened) { failures += 1; }
      if (failures >= GIVE_UP_AFTER) {
        // Some school networks block WebSockets. The page still works as an ordinary form: each
        // message reloads the page with the answer. Keep trying quietly in case it comes back.
        if (!plainForm) {
          plainForm = true;
          say("Live updates aren't available on this network. You can still send messages: the page will reload with each answer.");
          postPending();
        }
      } else if (unacked.length) {
        markUnsaved();
      } else {
        say("Reconnecting…");
      }
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  // Send the first message not yet saved as a form post, with its id (so it is still kept only once).
  function postPending() {
    if (!unacked.length) { return; }
    var first = unacked[0];
    unacked = [];
    remember();
    midField.value = first.mid;
    if (first.button !== undefined) {
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = "button";
      field.value = first.button;
      form.appendChild(field);
    } else {
      box.value = first.text;
    }
    form.submit();
  }

  function tooLong(length) {
    return "That's " + number(length) + " characters: cut " + number(length - MAX) +
      " to send it in one message (up to " + number(MAX) + "), or send it in parts.";
  }

  form.addEventListener("submit", function (event) {
    if (!window.WebSocket || (plainForm && !open)) { // the ordinary form post still works
      if (event.submitter && event.submitter.name === "button") { return; }
      if (!box.value.trim()) { event.preventDefault(); say(EMPTY, true); box.focus(); return; }
      if (box.value.length > MAX) { event.preventDefault(); say(tooLong(box.value.length), true); box.focus(); }
      return;
    }
    event.preventDefault();
    var submitter = event.submitter;
    if (submitter && submitter.name === "button") {
      pressed = submitter.value;
      send({ button: submitter.value }, submitter.textContent);
      return;
    }
    var text = box.value;
    if (!text.trim()) { say(EMPTY, true); box.focus(); return; }
    if (text.length > MAX) { say(tooLong(text.length), true); box.focus(); return; } // the text stays in the box
    pressed = null;
    send({ text: text }, text);
    box.value = "";
    grow();
    box.focus();
  });

  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  });

  // The box starts one line high and grows with what is typed, up to its CSS max-height.
  function grow() {
    box.style.height = "auto";
    box.style.height = box.scrollHeight + 2 + "px";
  }

  box.addEventListener("input", function () {
    grow();
    if (box.value.length > MAX) {
      say(tooLong(box.value.length), true);
    } else if (status.className.indexOf("problem") !== -1 && !unacked.length) {
      say("");
    }
  });

  restore();
  reveal();
  if (window.WebSocket) { connect(); }
})();
