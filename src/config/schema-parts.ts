// Pieces every part of the config schema is made of.
import { Type } from '@sinclair/typebox';

/** Unknown keys are errors. */
export const strict = { additionalProperties: false } as const;
export const Port = Type.Integer({ minimum: 0, maximum: 65535 });
export const Host = Type.String({ minLength: 1 });
/** A duration in milliseconds. */
export const Ms = (description: string, def?: number) => Type.Integer({ minimum: 1, description, ...(def === undefined ? {} : { default: def }) });
