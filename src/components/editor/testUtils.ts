import { screen } from '@testing-library/react';
import { UserEvent } from '@testing-library/user-event';

/**
 * jsdom lacks what @grafana/ui's Combobox menus use: IntersectionObserver (scroll indicators) and
 * element sizes (the virtualised option list renders nothing in a zero-sized box).
 */
export function setupComboboxEnvironment() {
  beforeAll(() => {
    class MockIntersectionObserver {
      observe() {}
      unobserve() {}
      disconnect() {}
      takeRecords() {
        return [];
      }
    }
    Object.defineProperty(window, 'IntersectionObserver', { writable: true, value: MockIntersectionObserver });
    Object.defineProperty(global, 'IntersectionObserver', { writable: true, value: MockIntersectionObserver });
    for (const prop of ['clientHeight', 'clientWidth', 'offsetHeight', 'offsetWidth']) {
      Object.defineProperty(HTMLElement.prototype, prop, { configurable: true, get: () => 400 });
    }
    Object.defineProperty(Element.prototype, 'getBoundingClientRect', {
      configurable: true,
      value: () => ({ width: 400, height: 400, top: 0, left: 0, bottom: 400, right: 400, x: 0, y: 0, toJSON() {} }),
    });
  });
}

/** The combobox input labelled `label` (an InlineField label). */
export function picker(label: RegExp): HTMLElement {
  return screen.getByLabelText(label);
}

/** Opens a picker, types `text` and picks the option offering exactly that text (a custom value). */
export async function typeValue(user: UserEvent, label: RegExp, text: string) {
  await user.click(picker(label));
  await user.keyboard(text.replace(/[{[]/g, '$&$&'));
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const options = await screen.findAllByRole('option', { name: new RegExp(`^${escaped}`) }, { timeout: 3000 });
  const exact = options.find((o) => o.textContent?.startsWith(text)) ?? options[0];
  await user.click(exact);
  // Leaving the open picker clears the typed text, as a user moving on does.
  await user.click(document.body);
}

/** Opens a picker and clicks the option whose text starts with `option`. */
export async function pickOption(user: UserEvent, label: RegExp, option: string | RegExp) {
  await user.click(picker(label));
  const el = await screen.findByRole('option', { name: option }, { timeout: 3000 });
  await user.click(el);
}

/**
 * The values a picker shows as pills. It is opened first: closed, it shows as many as fit its
 * measured width, which jsdom does not have.
 */
export async function pills(user: UserEvent, label: RegExp): Promise<string[]> {
  const input = picker(label);
  await user.click(input);
  const texts = Array.from(input.parentElement!.children)
    .filter((el) => el !== input && el.textContent)
    .map((el) => el.textContent!.trim());
  await user.keyboard('{Escape}');
  return texts;
}
