// The page: send a file (picked, dropped or recorded) to /v1/detect, show the result,
// then fetch the overlay PNG from /v1/overlay. Everything comes from this server.
"use strict";
const $ = (id) => document.getElementById(id);
const status = (text, isError) => {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
};

let modelInfo = null;  // /v1/model: which model answers, and what its numbers mean

async function showModel() {
  try {
    const m = await (await fetch("/v1/model")).json();
    modelInfo = m;
    if (m.kind === "pretrained") {
      $("model").textContent = `model: ${m.model} (pretrained, the default when no trained model is given): ` +
        `${m.description}; uploads up to ${m.limits.max_upload_mb} MB`;
      $("rule").textContent = `${m.probability}; ${m.decision_rule}.`;
    } else {
      const cell = m.cell || {};
      const eer = m.dev_eer == null ? "?" : (100 * m.dev_eer).toFixed(2) + " %";
      $("model").textContent = `model: ${cell.encoder || m.encoder?.type} / ${cell.head || m.head?.type} ` +
        `trained on ${m.trained_on?.dataset ?? "?"}; dev EER ${eer}; uploads up to ${m.limits.max_upload_mb} MB ` +
        `(${m.model})`;
    }
  } catch (err) {
    $("model").textContent = "model information unavailable";
  }
}

function upload(file, path) {
  const form = new FormData();
  form.append("file", file, file.name);
  return fetch(path, { method: "POST", body: form });
}

async function errorText(resp) {
  let body = {};
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  const retry = resp.headers.get("retry-after");
  // every error is {"error": {"code", "message"}}; the message says what to do
  const err = body.error;
  const text = err && typeof err === "object" ? (err.message || err.code) : err;
  return `${resp.status}: ${text || resp.statusText}` + (retry ? ` (retry in ${retry} s)` : "");
}

// which threshold the decision used, beside P(spoof): "P 0.53 / bonafide" is no puzzle when the
// threshold sits at P 0.61 (the decision compares the score with the threshold: spoof iff score >= it)
function thresholdText(line) {
  const pAt = modelInfo && modelInfo.model === line.model ? modelInfo.p_spoof_at_threshold : null;
  const thr = `threshold ${line.threshold.toFixed(3)}`;
  return pAt == null ? `(decision: spoof iff score >= ${thr})`
    : `(decision threshold: P(spoof) ${pAt.toFixed(4)}, score ${line.threshold.toFixed(3)})`;
}

async function analyse(file) {
  $("result").hidden = true;
  $("overlay").hidden = true;
  status(`scoring ${file.name} (${(file.size / 1024).toFixed(0)} KB)…`);
  const t0 = performance.now();
  let resp;
  try {
    resp = await upload(file, "/v1/detect");
  } catch (err) {
    status(`could not reach the server: ${err}`, true);
    return;
  }
  const rtt = performance.now() - t0;
  if (!resp.ok) {
    status(`${file.name}: ${await errorText(resp)}`, true);
    return;
  }
  const line = await resp.json();
  $("r-file").textContent = line.file;
  // which model answered: its name from the line, what it is from /v1/model
  const about = modelInfo && modelInfo.model === line.model ? modelInfo.description : "";
  $("r-model").textContent = about ? `${line.model}: ${about}` : line.model;
  $("r-p").textContent = line.p_spoof.toFixed(4);
  $("r-p").dataset.value = String(line.p_spoof);
  $("r-p-threshold").textContent = thresholdText(line);
  $("r-decision").textContent = line.decision;
  $("r-decision").className = line.decision;
  $("r-score").textContent = `${line.score.toFixed(3)} / ${line.threshold.toFixed(3)}`;
  $("r-latency").textContent = `${line.latency_ms.toFixed(1)} ms`;
  $("r-rtt").textContent = `${rtt.toFixed(0)} ms`;
  const body = $("windows").querySelector("tbody");
  body.replaceChildren(...line.windows.map((w) => {
    const tr = document.createElement("tr");
    for (const v of [w.start_s.toFixed(2), w.end_s.toFixed(2), w.score.toFixed(3), w.p_spoof.toFixed(3)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  }));
  $("result").hidden = false;
  status(`${line.file}: ${line.decision} (${line.duration_s} s of audio)`);
  await showOverlay(file);
}

async function showOverlay(file) {
  $("overlay-status").textContent = "computing the occlusion map (one re-scoring per band)…";
  const t0 = performance.now();
  const resp = await upload(file, "/v1/overlay?format=png");
  if (!resp.ok) {
    $("overlay-status").textContent = `overlay: ${await errorText(resp)}`;
    return;
  }
  const url = URL.createObjectURL(await resp.blob());
  const img = $("overlay");
  img.onload = () => URL.revokeObjectURL(url);
  img.src = url;
  img.hidden = false;
  $("overlay-status").textContent = `overlay in ${(performance.now() - t0).toFixed(0)} ms ` +
    `(server ${resp.headers.get("x-latency-ms")} ms)`;
  img.dataset.ready = "1";
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) analyse(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) analyse(e.dataTransfer.files[0]);
});

// microphone: MediaRecorder gives webm/opus (Chromium) or ogg/mp4 elsewhere; the server decodes all
let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
    status("this browser cannot record audio", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    status(`microphone unavailable: ${err.message || err}`, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    $("record").classList.remove("recording");
    $("record").textContent = "● Record from microphone";
    $("rec-status").textContent = "";
    const type = (recorder.mimeType || "audio/webm").split(";")[0];
    const ext = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" }[type] || "webm";
    analyse(new File(chunks, `recording.${ext}`, { type }));
  };
  recorder.start();
  $("record").classList.add("recording");
  $("record").textContent = "■ Stop and score";
  $("rec-status").textContent = "recording…";
});

showModel();
