// New-chat alerts: a short chime (Web Audio, or a WAV data: URI generated here when Web Audio is
// missing — no sound file to host) and a desktop notification (Notification API).

const NOTIFY_KEY = "kefu.console.notify";
const SOUND_KEY = "kefu.console.sound";

let audioContext = null;

/** Browsers only let a page make sound after a user gesture: call this from one. */
export function unlockAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    if (!audioContext) audioContext = new Ctx();
    if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  } catch {
    audioContext = null;
  }
}

export function soundEnabled() {
  return localStorage.getItem(SOUND_KEY) !== "0";
}

export function setSoundEnabled(on) {
  localStorage.setItem(SOUND_KEY, on ? "1" : "0");
}

/** Two rising tones, ~0.35 s. */
export function playChime() {
  if (!soundEnabled()) return;
  if (audioContext && audioContext.state === "running") {
    const now = audioContext.currentTime;
    for (const [freq, start] of [
      [880, 0],
      [1318.5, 0.14],
    ]) {
      const osc = audioContext.createOscillator();
      const gain = audioContext.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.25, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.2);
      osc.connect(gain).connect(audioContext.destination);
      osc.start(now + start);
      osc.stop(now + start + 0.22);
    }
    return;
  }
  try {
    const audio = new Audio(chimeWav());
    audio.volume = 0.6;
    audio.play().catch(() => {});
  } catch {
    /* no audio at all */
  }
}

let wavCache = null;

/** The same chime as a 16-bit mono WAV data: URI (media-src allows data:). */
function chimeWav() {
  if (wavCache) return wavCache;
  const rate = 16000;
  const samples = Math.round(rate * 0.36);
  const buffer = new ArrayBuffer(44 + samples * 2);
  const view = new DataView(buffer);
  const ascii = (offset, text) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + samples * 2, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) {
    const time = i / rate;
    const second = time >= 0.14;
    const local = second ? time - 0.14 : time;
    const freq = second ? 1318.5 : 880;
    const envelope = Math.min(1, local / 0.02) * Math.exp(-local * 14);
    const value = Math.sin(2 * Math.PI * freq * local) * envelope * 0.3;
    view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, value)) * 32767, true);
  }
  let binary = "";
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  wavCache = "data:audio/wav;base64," + btoa(binary);
  return wavCache;
}

// ---- desktop notifications ----

export function notifySupported() {
  return "Notification" in window;
}

export function notifyPermission() {
  return notifySupported() ? Notification.permission : "unsupported";
}

/** The agent's choice (on unless turned off) and the browser's permission. */
export function notifyEnabled() {
  return notifyPermission() === "granted" && localStorage.getItem(NOTIFY_KEY) !== "0";
}

export function setNotifyPreference(on) {
  localStorage.setItem(NOTIFY_KEY, on ? "1" : "0");
}

/** Ask for permission (call from a user gesture). Resolves with the permission. */
export async function requestNotifyPermission() {
  if (!notifySupported()) return "unsupported";
  if (Notification.permission !== "default") return Notification.permission;
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

/** Ask once when it makes sense (going online) unless the agent turned notifications off. */
export function maybeRequestNotify() {
  if (notifyPermission() === "default" && localStorage.getItem(NOTIFY_KEY) !== "0") {
    return requestNotifyPermission();
  }
  return Promise.resolve(notifyPermission());
}

export function showNotification(title, body, tag, onClick) {
  if (!notifyEnabled()) return null;
  try {
    const n = new Notification(title, { body, tag, renotify: true });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
    setTimeout(() => n.close(), 15000);
    return n;
  } catch {
    return null; // e.g. Android Chrome needs a service worker for notifications
  }
}
