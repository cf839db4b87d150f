// @ts-check
// k6 script for teams that run k6 suites against Wicket.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e PATH_=/hello loadtest/proxy.k6.js
// Types: @types/k6 (devDependency) gives editors checking with `// @ts-check`.
import http from 'k6/http';
import { check } from 'k6';

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: Number(__ENV.VUS || 32), duration: __ENV.DURATION || '30s' },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    http_req_duration: ['p(99)<50'],
  },
};

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const PATH = __ENV.PATH_ || '/hello';

export default function () {
  const res = http.get(`${BASE}${PATH}`);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
