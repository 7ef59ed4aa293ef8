// Jest setup provided by Grafana scaffolding
import { configure } from '@testing-library/react';

import './.config/jest-setup';

// jsdom has no canvas. The scaffold stubs getContext() to return undefined; @grafana/ui's
// Combobox and MultiCombobox measure text on a 2D context to size themselves, so give them one
// with a rough measureText.
HTMLCanvasElement.prototype.getContext = function getContext() {
  return {
    font: '',
    measureText: (text) => ({ width: String(text).length * 8 }),
  };
};

// findBy*/waitFor give up after 1 s by default. On a 2-core machine that is also building or
// running other tests, a @grafana/ui menu can take longer than that to open; a passing test does
// not wait any longer for a higher limit, a failing one fails after 10 s instead of 1 s.
configure({ asyncUtilTimeout: 10000 });
