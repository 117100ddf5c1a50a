// Whether the person at this page is active: any input within the server's idle_seconds (PRESENCE_IDLE_SECONDS).

const INPUT_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"];

export class ActivityTracker {
  /** `onReturn` runs on the first input after the page went idle, so the server hears "active" at once. */
  constructor(idleSeconds, onReturn) {
    this.idleMs = idleSeconds * 1000;
    this.onReturn = onReturn;
    this.lastInput = Date.now();
    // Capture phase and passive: seen before any handler can stop it, and never delays scrolling.
    this.listener = () => this.input();
    for (const name of INPUT_EVENTS) window.addEventListener(name, this.listener, { capture: true, passive: true });
  }

  input() {
    const wasIdle = this.state() === "idle";
    this.lastInput = Date.now();
    if (wasIdle) this.onReturn();
  }

  state() {
    return Date.now() - this.lastInput >= this.idleMs ? "idle" : "active";
  }

  stop() {
    for (const name of INPUT_EVENTS) window.removeEventListener(name, this.listener, { capture: true });
  }
}
