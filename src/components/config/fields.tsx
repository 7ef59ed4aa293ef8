import React from 'react';
import { Field, Input, SecretInput } from '@grafana/ui';

import { AuditSecureJsonData } from '../../types';
import type { Props } from '../ConfigEditor';

export type SecureKey = keyof AuditSecureJsonData;

/** A text setting; an empty value is stored as undefined so the backend default applies. */
export function TextField(props: {
  id: string;
  label: string;
  description?: string;
  value?: string | number;
  placeholder?: string;
  width?: number;
  type?: 'text' | 'number';
  /** A validation message shown under the input, which is then marked invalid. */
  error?: string;
  onChange: (value: string | undefined) => void;
}) {
  return (
    <Field label={props.label} description={props.description} invalid={Boolean(props.error)} error={props.error}>
      <Input
        id={props.id}
        aria-label={props.label}
        type={props.type ?? 'text'}
        width={props.width ?? 40}
        value={props.value ?? ''}
        placeholder={props.placeholder}
        onChange={(e) => props.onChange(e.currentTarget.value.trim() === '' ? undefined : e.currentTarget.value)}
      />
    </Field>
  );
}

/** A secret setting: stored in secure JSON data, never shown again; "Reset" clears it. */
export function SecretField({
  options,
  onOptionsChange,
  secureKey,
  label,
  description,
}: Props & { secureKey: SecureKey; label: string; description?: string }) {
  const configured = Boolean(options.secureJsonFields?.[secureKey]);
  return (
    <Field label={label} description={description}>
      <SecretInput
        id={`audit-secret-${secureKey}`}
        aria-label={label}
        width={40}
        isConfigured={configured}
        value={options.secureJsonData?.[secureKey] ?? ''}
        onChange={(e) =>
          onOptionsChange({
            ...options,
            secureJsonData: { ...options.secureJsonData, [secureKey]: e.currentTarget.value },
          })
        }
        onReset={() =>
          onOptionsChange({
            ...options,
            secureJsonFields: { ...options.secureJsonFields, [secureKey]: false },
            secureJsonData: { ...options.secureJsonData, [secureKey]: '' },
          })
        }
      />
    </Field>
  );
}

/** Parses a number input; empty or invalid gives undefined. */
export function toNumber(v: string | undefined): number | undefined {
  if (v === undefined) {
    return undefined;
  }
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
