// Polyfill for `Promise.withResolvers` (ES2024, native from Node 22), which
// aws-local-stepfunctions 3.x calls in every Task state. Load it before the
// library on Node 20: `node --import ./tests/support/promise_with_resolvers.mjs ...`
// (tests/support/local_sfn.mjs also imports it itself). A no-op where native.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers() {
      let resolve;
      let reject;
      const promise = new this((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
    writable: true,
    configurable: true,
  });
}
