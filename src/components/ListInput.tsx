import React, { useState } from 'react';
import { Input } from '@grafana/ui';

/** Splits comma-separated text into trimmed, non-empty entries. */
export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

interface Props<T> {
  id?: string;
  value?: T[];
  /** Called on every edit with the parsed list (undefined when empty). */
  onChange: (value: T[] | undefined) => void;
  onBlur?: () => void;
  placeholder?: string;
  width?: number;
  /** Shows the input as invalid (set by a surrounding Field or InlineField). */
  invalid?: boolean;
  /** Text to entries; entries that do not parse are left out of the value but kept in the text. */
  parse: (text: string) => T[];
  format: (value: T) => string;
}

/**
 * A text input for a list, edited as comma-separated text. The text the user types is kept as
 * typed (trailing commas, spaces, half-typed entries); it is only rewritten when the value changes
 * from outside to something the text does not already say.
 */
export function ListInput<T>({ id, value, onChange, onBlur, placeholder, width, invalid, parse, format }: Props<T>) {
  // Hand-written queries may hold a single value where a list belongs (the backend accepts it).
  const current: T[] = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const [text, setText] = useState(() => current.map(format).join(', '));
  const [seen, setSeen] = useState<T[]>(current);

  if (!sameList(seen, current)) {
    // The value changed: adopt it unless it is what the text already says.
    setSeen(current);
    if (!sameList(parse(text), current)) {
      setText(current.map(format).join(', '));
    }
  }

  return (
    <Input
      id={id}
      value={text}
      width={width}
      invalid={invalid}
      placeholder={placeholder}
      onBlur={onBlur}
      onChange={(e) => {
        const next = e.currentTarget.value;
        setText(next);
        const list = parse(next);
        setSeen(list);
        onChange(list.length > 0 ? list : undefined);
      }}
    />
  );
}

/** A comma-separated list of strings. */
export function StringListInput(props: Omit<Props<string>, 'parse' | 'format'>) {
  return <ListInput<string> {...props} parse={parseList} format={String} />;
}
