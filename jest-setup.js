// Jest setup provided by Grafana scaffolding
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
