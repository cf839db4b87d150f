import { Type, type Static } from '@sinclair/typebox';

const Ranges = (description: string) => Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description });

export const IpAccessSchema = Type.Object(
  {
    allow: Type.Optional(Ranges('Only clients in these addresses/CIDR ranges (IPv4 and IPv6)')),
    deny: Type.Optional(Ranges('Never clients in these (checked first: a deny wins over an allow)')),
  },
  { additionalProperties: false, minProperties: 1, description: "Client address allow/deny lists; the client is the peer, or what rateLimit.trustedProxies' X-Forwarded-For says" },
);

export type IpAccessConfig = Static<typeof IpAccessSchema>;
