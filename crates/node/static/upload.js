// Evidence upload for providers: the signed manifest first, then each .age file in pieces
// (PUT with Upload-Offset), with a progress bar. A lost connection is not an error: the
// script asks how much arrived (HEAD) and goes on from there. Only when every file is in
// does it ask the node to verify them against the manifest and record the production.
(function () {
  "use strict";
  var PIECE = 1 << 20;
  var RETRIES = 30;

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function readText(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(String(r.result)); };
      r.onerror = function () { reject(r.error); };
      r.readAsText(file);
    });
  }

  function put(url, csrf, blob, offset, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open("PUT", url);
      x.setRequestHeader("X-CSRF-Token", csrf);
      x.setRequestHeader("Upload-Offset", String(offset));
      x.setRequestHeader("Content-Type", "application/octet-stream");
      x.upload.onprogress = function (e) { onProgress(e.loaded); };
      x.onload = function () {
        if (x.status === 204) { resolve({ offset: Number(x.getResponseHeader("Upload-Offset")), resync: false }); }
        // The node holds another amount (a piece that was cut, then sent again by the
        // browser): go on from what it holds.
        else if (x.status === 409) { resolve({ offset: Number(x.getResponseHeader("Upload-Offset")), resync: true }); }
        else { reject(new Error("refused: " + x.status + " " + x.responseText)); }
      };
      x.onerror = function () { reject(new Error("lost")); };
      x.onabort = function () { reject(new Error("lost")); };
      x.send(blob);
    });
  }

  async function offsetOf(url) {
    var r = await fetch(url, { method: "HEAD", credentials: "same-origin" });
    if (!r.ok) { throw new Error("refused: " + r.status); }
    return Number(r.headers.get("Upload-Offset") || "0");
  }

  async function upload(form) {
    var status = form.querySelector(".status");
    var bar = form.querySelector("progress");
    var pct = form.querySelector(".pct");
    var csrf = form.dataset.csrf;
    var say = function (t) { status.textContent = t; };
    var manifestFile = form.querySelector("input[name=manifest]").files[0];
    var signerFile = form.querySelector("input[name=signer]").files[0];
    var chosen = Array.prototype.slice.call(form.querySelector("input[name=files]").files);
    say("Checking the manifest…");
    var start = await fetch("/api/v1/cases/" + encodeURIComponent(form.dataset.uploadCase) + "/uploads", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ manifest: await readText(manifestFile), signer: await readText(signerFile) })
    });
    var started = await start.json();
    if (!start.ok) { say("Not accepted: " + (started.detail || started.title)); return; }
    var files = started.files.map(function (f) {
      var base = f.name.split("/").pop() + ".age";
      var blob = chosen.find(function (c) { return c.name === base; });
      return { index: f.index, name: f.name, size: f.age_size, blob: blob };
    });
    var missing = files.filter(function (f) { return !f.blob; }).map(function (f) { return f.name + ".age"; });
    if (missing.length) { say("Choose these files too: " + missing.join(", ")); return; }
    var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1;
    var done = 0;
    var show = function (n) {
      var p = Math.min(100, Math.floor(100 * n / total));
      bar.value = p; bar.textContent = p + "%"; pct.textContent = p + "%";
    };
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      var url = "/api/v1/uploads/" + started.upload + "/files/" + f.index;
      var offset = 0, failures = 0;
      while (offset < f.size) {
        var end = Math.min(f.size, offset + PIECE);
        try {
          say("Uploading " + f.name + "…");
          var sent = await put(url, csrf, f.blob.slice(offset, end), offset, function (loaded) { show(done + offset + loaded); });
          if (sent.resync) { form.dataset.resumed = String(Number(form.dataset.resumed || "0") + 1); }
          offset = sent.offset;
          failures = 0;
        } catch (e) {
          if (String(e.message).indexOf("refused") === 0 || ++failures > RETRIES) { say("Stopped: " + e.message); return; }
          say("Connection lost: resuming " + f.name + "…");
          await sleep(Math.min(5000, 500 * failures));
          try { offset = await offsetOf(url); } catch (e2) { /* still offline: try again */ }
          form.dataset.resumed = String(Number(form.dataset.resumed || "0") + 1);
        }
        show(done + offset);
      }
      done += f.size;
    }
    say("Verifying against the signed manifest…");
    var fin = await fetch("/api/v1/uploads/" + started.upload + "/complete", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }
    });
    var result = await fin.json();
    if (!fin.ok) { say("Not accepted: " + (result.detail || result.title)); return; }
    show(total);
    say("Done: the evidence is verified and produced (" + result.evidence + ").");
    form.dataset.done = "true";
  }

  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      upload(form).catch(function (e) { form.querySelector(".status").textContent = "Stopped: " + e.message; });
    });
  });
})();
