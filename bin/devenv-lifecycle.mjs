#!/usr/bin/env node
// The project CLI. Sources are TypeScript; tsx compiles them on the fly.
import { register } from 'tsx/esm/api';

register();
await import('../local/cli.ts');
