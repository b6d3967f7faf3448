/*
 * A stand-in for the node22 image's `node index.js`, run as its own process: it requires the
 * bundled handler.js (HANDLER_PATH) the way the template does, at start-up, and serves it on
 * PORT through the line-for-line port of the template's request handling. Bundled into a
 * temporary folder (hosted-bundles.ts) so it starts as plain node, as the image does.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { openfaasTemplate } from '../fixtures/requests/openfaas-template.js';
import type { TemplateHandler } from '../fixtures/requests/openfaas-template.js';

const handlerPath = resolve(process.env.HANDLER_PATH ?? './function/handler.js');
const handler = createRequire(handlerPath)(handlerPath) as TemplateHandler;
createServer(openfaasTemplate(handler, { rawBody: process.env.RAW_BODY === 'true' })).listen(
  Number(process.env.PORT ?? 3000),
  '127.0.0.1',
);
process.once('SIGTERM', () => process.exit(0));
