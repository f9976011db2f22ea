// Waymark web chat: live updates over a WebSocket. Without this script the page still works as a form.
// Everything a person or the bot wrote is inserted with textContent, never as HTML.
"use strict";
(function () {
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  if (!log || !form) { return; }
  var box = document.getElementById("message");
  var choices = document.getElementById("choices");
  var status = document.getElementById("status");
  var csrf = form.elements.namedItem("csrf").value;
  var lastId = parseInt(log.getAttribute("data-last-id") || "0", 10);
  var baseTitle = document.title;
  var unread = 0;
  var socket = null;
  var open = false;
  var retry = 500;
  var failures = 0; // connection attempts in a row that never opened
  var plainForm = false; // the WebSocket seems blocked: messages go as ordinary form posts
  var GIVE_UP_AFTER = 3;
  var pending = [];
  var MAX = 4000;
  var choosing = false;

  function say(text) { status.textContent = text; }

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

  function setChoices(rows) {
    var hadFocus = choices.contains(document.activeElement);
    while (choices.firstChild) { choices.removeChild(choices.firstChild); }
    rows.forEach(function (row) {
      row.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "submit";
        button.className = "choice";
        button.setAttribute("form", "composer");
        button.name = "button";
        button.value = b.data;
        button.textContent = b.label;
        choices.appendChild(button);
      });
    });
    // Keyboard users keep their place: after pressing a choice, focus moves to the next choices
    // (or to the text box when the bot wants typing); typing in the box keeps focus there.
    var first = choices.querySelector("button");
    if (first && (choosing || document.activeElement === document.body)) {
      first.focus();
      choosing = false;
    } else if (!first && (hadFocus || document.activeElement === document.body)) {
      box.focus();
    }
  }

  function addLine(line) {
    if (line.id <= lastId) { return; }
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
    p.textContent = line.text;
    item.appendChild(p);
    if (line.image) {
      var img = document.createElement("img");
      img.className = "media";
      img.src = line.image.url;
      img.alt = line.image.name;
      item.appendChild(img);
    }
    if (line.file) {
      var a = document.createElement("a");
      a.className = "file";
      a.href = line.file.url;
      a.setAttribute("download", line.file.name);
      a.textContent = "Download " + line.file.name;
      item.appendChild(a);
    }
    log.appendChild(item);
    if (line.dir === "in") {
      setChoices([]);
    } else {
      if (line.buttons && line.buttons.length) { setChoices(line.buttons); }
      if (document.hidden) { unread += 1; showUnread(); }
    }
  }

  function scrollDown() {
    var last = log.lastElementChild;
    if (last && last.scrollIntoView) { last.scrollIntoView({ block: "end" }); }
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
      say("");
      while (pending.length) { socket.send(pending.shift()); }
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "lines") {
        message.lines.forEach(addLine);
        scrollDown();
        say("");
      } else if (message.type === "signed_out") {
        window.location.assign("/signin?out=1");
      } else if (message.type === "error") {
        say(message.text);
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
      } else {
        say("Reconnecting…");
      }
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  // Send the first message typed while we were still trying to connect, as a form post.
  function postPending() {
    if (!pending.length) { return; }
    var first = JSON.parse(pending[0]);
    pending = [];
    if (first.button) {
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

  function send(payload) {
    payload.mid = messageId();
    var data = JSON.stringify(payload);
    if (open) { socket.send(data); } else { pending.push(data); }
    say("Sending…");
  }

  form.addEventListener("submit", function (event) {
    if (!window.WebSocket || (plainForm && !open)) { return; } // the ordinary form post still works
    event.preventDefault();
    var submitter = event.submitter;
    if (submitter && submitter.name === "button") {
      choosing = true;
      send({ button: submitter.value });
      return;
    }
    var text = box.value;
    if (!text.trim()) { box.focus(); return; }
    choosing = false;
    send({ text: text });
    box.value = "";
    box.focus();
  });

  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  });

  box.addEventListener("input", function () {
    if (box.value.length > MAX) {
      say("That's " + box.value.length + " characters; I can keep up to " + MAX + " at a time, so send it in parts.");
    } else if (status.textContent.indexOf("characters") !== -1) {
      say("");
    }
  });

  scrollDown();
  if (window.WebSocket) { connect(); }
})();
