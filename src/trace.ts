/** Human-readable lines for union events (the --trace output). */
import type { UnionEvent } from './core/overlay.js';

const show = (path: string): string => `/${Buffer.from(path, 'latin1').toString('utf8')}`;

export function formatEvent(event: UnionEvent): string {
  switch (event.type) {
    case 'copy-up':
      return `copy-up  ${show(event.path)} from lower ${event.layer} (${event.bytes} bytes, ${event.ms.toFixed(1)} ms)`;
    case 'whiteout':
      return `whiteout ${show(event.path)}`;
    case 'opaque':
      return `opaque   ${show(event.path)}`;
    case 'create':
      return `create   ${show(event.path)}`;
    case 'delete':
      return `delete   ${show(event.path)}`;
  }
}
