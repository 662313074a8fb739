// Imported first by the page: zod would probe for eval (new Function) when
// schemas are built; the CSP forbids eval, so it must not try.
import { z } from 'zod';

z.config({ jitless: true });
