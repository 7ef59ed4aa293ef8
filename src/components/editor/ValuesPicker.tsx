import React, { useCallback, useMemo } from 'react';
import { ComboboxOption, MultiCombobox } from '@grafana/ui';

import { DimensionValue } from '../../types';
import { StaticOption } from './model';

/** Most options a picker lists at once (type to narrow). */
export const MAX_OPTIONS = 500;

const ERROR_VALUE = '__k8saudit_values_error__';

/** A glob with `*` as a case-sensitive anchored regular expression, as the backend matches. */
function globRegExp(glob: string): RegExp {
  const escaped = glob
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`);
}

function describeCount(count: number): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'request' : 'requests'}`;
}

/**
 * The options of a picker for what the user typed: the dimension's values (with counts) and the
 * static suggestions, narrowed by the text (a substring, or a glob when it has `*`). Text starting
 * with `!` offers the matching values as exclusions. `emptyValue` names the value that stands
 * for "none" (decision: `none`); other empty values cannot be filtered on and are left out.
 */
export function buildOptions(
  values: readonly DimensionValue[],
  staticOptions: readonly StaticOption[] = [],
  input = '',
  emptyValue?: string
): Array<ComboboxOption<string>> {
  const exclude = input.startsWith('!');
  const term = (exclude ? input.slice(1) : input).trim();
  const byValue = new Map<string, ComboboxOption<string>>();
  for (const v of values) {
    const value = v.value === '' ? emptyValue : v.value;
    if (!value || byValue.has(value)) {
      continue;
    }
    const known = staticOptions.find((s) => s.value === value)?.description;
    const count = typeof v.count === 'number' ? describeCount(v.count) : '';
    byValue.set(value, { value, label: value, description: [known, count].filter(Boolean).join(' · ') });
  }
  for (const s of staticOptions) {
    if (!byValue.has(s.value)) {
      byValue.set(
        s.value,
        s.description
          ? { value: s.value, label: s.value, description: s.description }
          : {
              value: s.value,
              label: s.value,
            }
      );
    }
  }
  let options = [...byValue.values()];
  if (term.includes('*')) {
    const re = globRegExp(term);
    options = options.filter((o) => re.test(o.value));
  } else if (term !== '') {
    const lower = term.toLowerCase();
    options = options.filter((o) => o.value.toLowerCase().includes(lower));
  }
  if (exclude) {
    options = options.map((o) => ({
      value: `!${o.value}`,
      label: `!${o.value}`,
      description: ['exclude', o.description].filter(Boolean).join(' · '),
    }));
  }
  return options.slice(0, MAX_OPTIONS);
}

/** A list from what a hand-written query may hold: a list, a single value (as the backend accepts) or nothing. */
export function asList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') {
    return [];
  }
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Splits entries such as "get, list" (pasted lists) and drops empty and repeated ones. */
export function normalizeValues(values: ReadonlyArray<string | number>): string[] {
  const out: string[] = [];
  for (const raw of values) {
    for (const part of String(raw).split(',')) {
      const v = part.trim();
      if (v !== '' && v !== ERROR_VALUE && !out.includes(v)) {
        out.push(v);
      }
    }
  }
  return out;
}

export interface ValuesPickerProps {
  id: string;
  value?: string[];
  /** Called with the new list (undefined when empty). */
  onChange: (value: string[] | undefined) => void;
  /** Fetches the values to offer, when the picker opens. Without it only static options show. */
  load?: () => Promise<DimensionValue[]>;
  staticOptions?: readonly StaticOption[];
  emptyValue?: string;
  placeholder?: string;
  minWidth?: number;
  maxWidth?: number;
}

/**
 * A multi-select over a dimension's values, loaded lazily (on open) with their request counts.
 * Anything can be typed: exact values, `*` globs, `!` exclusions, template variables, and
 * comma-separated lists, which become one entry each.
 */
export function ValuesPicker({
  id,
  value,
  onChange,
  load,
  staticOptions,
  emptyValue,
  placeholder,
  minWidth = 24,
  maxWidth = 80,
}: ValuesPickerProps) {
  const options = useCallback(
    async (input: string): Promise<Array<ComboboxOption<string>>> => {
      let values: DimensionValue[] = [];
      let error: string | undefined;
      if (load) {
        try {
          values = await load();
        } catch (e) {
          error = errorMessage(e);
        }
      }
      const out = buildOptions(values, staticOptions, input, emptyValue);
      if (error !== undefined) {
        out.unshift({ value: ERROR_VALUE, label: `Could not load values: ${error}`, infoOption: true });
      }
      return out;
    },
    [load, staticOptions, emptyValue]
  );
  const selected = useMemo(() => asList(value).map((v) => ({ value: v, label: v })), [value]);
  return (
    <MultiCombobox<string>
      id={id}
      width="auto"
      minWidth={minWidth}
      maxWidth={maxWidth}
      placeholder={placeholder}
      options={options}
      value={selected}
      createCustomValue
      customValueDescription="Use as typed (* is a glob, a leading ! excludes)"
      isClearable
      onChange={(next) => {
        const list = normalizeValues(next.map((o) => o.value));
        onChange(list.length > 0 ? list : undefined);
      }}
    />
  );
}

function errorMessage(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { data?: { message?: string }; message?: string; statusText?: string };
    return o.data?.message || o.message || o.statusText || 'request failed';
  }
  return String(e || 'request failed');
}
