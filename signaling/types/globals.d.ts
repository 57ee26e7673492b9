// Globals the pages' scripts use beyond the DOM library (for the type check only; not served:
// it lives outside assets/).

interface Window {
  /** Each page's diagnostics for the browser tests (tests/browser/*.mjs read it). */
  vidid?: any;
  /** Safari before 14.1. */
  webkitAudioContext?: typeof AudioContext;
}
