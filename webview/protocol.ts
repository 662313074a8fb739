// The extension <-> dashboard webview contract (zod only). The dashboard
// itself comes with the dashboard issue; this is its handshake.
import { z } from 'zod';

export const WEBVIEW_PROTOCOL_VERSION = 1;

/** Webview -> extension: the page has loaded and listens. */
export const ReadyMessage = z.object({ type: z.literal('ready'), version: z.number().int() });

export const WebviewToHost = z.discriminatedUnion('type', [ReadyMessage]);
export type WebviewToHost = z.infer<typeof WebviewToHost>;
