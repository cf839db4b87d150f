import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../observability/logger.js';
import { checkSemantics } from '../../config/semantic.js';
import { RequestContext } from '../../pipeline/context.js';
import type { Filter } from '../../pipeline/filter.js';
import { ipAccessFilter } from './index.js';

const env = { store: null as never, services: new Map(), clientIp: (c: RequestContext) => c.remoteAddress, log: createLogger('silent', 'test') };
const from = (ip: string): RequestContext => {
  const c = new RequestContext(0);
  c.remoteAddress = ip;
  return c;
};

test('ipAccess: a deny wins over an allow; outside the allow list is refused; IPv6 ranges', () => {
  const f = ipAccessFilter.compile({ name: 'r', kind: 'proxy', upstreamProtocol: 'http1', config: { ipAccess: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.6.0.0/16'] } } }, env) as Filter;
  assert.equal(f.onRequest!(from('10.1.2.3')), undefined);
  assert.equal(f.onRequest!(from('2001:db8:1::5')), undefined);
  assert.deepEqual(f.onRequest!(from('10.6.0.1')), { error: 'WICKET_ERR_IP_FORBIDDEN' });
  assert.deepEqual(f.onRequest!(from('192.0.2.1')), { error: 'WICKET_ERR_IP_FORBIDDEN' });
  assert.deepEqual(f.onRequest!(from('2001:db9::1')), { error: 'WICKET_ERR_IP_FORBIDDEN' });
});

test('ipAccess and auth: bad ranges, conditions and RBAC without roles are refused at load with their paths', () => {
  const issues = checkSemantics({
    routes: [
      { name: 'a', match: { path: '/a' }, respond: { status: 200 }, ipAccess: { allow: ['10.0.0.0/33', 'nope'] } },
      { name: 'b', match: { path: '/b' }, respond: { status: 200 }, auth: { methods: [], require: { rbac: true, when: [{ claim: 'x', header: 'y', equals: '1' }, { ip: true, matches: '(' }] } } },
    ],
  });
  const at = issues.map((i) => i.at.join('.'));
  for (const p of ['routes.0.ipAccess.allow.0', 'routes.0.ipAccess.allow.1', 'routes.1.auth.require.rbac', 'routes.1.auth.require.when.0', 'routes.1.auth.require.when.1']) {
    assert.ok(at.includes(p), `${p} in ${at.join(', ')}`);
  }
});
