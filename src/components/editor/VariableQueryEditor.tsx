import React from 'react';
import { QueryEditorProps } from '@grafana/data';
import { Combobox, ComboboxOption, InlineField, InlineFieldRow, Input, Stack, Text } from '@grafana/ui';

import type { DataSource } from '../../datasource';
import { AuditDataSourceOptions, AuditFilter, AuditQuery, AuditVariableQuery, DIMENSIONS } from '../../types';
import { StringListInput } from '../ListInput';

export type VariableQueryEditorProps = QueryEditorProps<
  DataSource,
  AuditQuery,
  AuditDataSourceOptions,
  AuditVariableQuery
>;

const LABEL_WIDTH = 14;

const DIMENSION_OPTIONS: Array<ComboboxOption<string>> = DIMENSIONS.map((d) => ({
  value: d.name,
  label: d.label,
  description: d.name,
}));

/** Narrowing filters offered for a variable (the rest can be set in the JSON model). */
const FILTERS: ReadonlyArray<{
  key: 'users' | 'namespaces' | 'verbs' | 'resources';
  label: string;
  placeholder: string;
}> = [
  { key: 'users', label: 'Users', placeholder: '$user, system:serviceaccount:*' },
  { key: 'namespaces', label: 'Namespaces', placeholder: '$namespace, kube-*' },
  { key: 'verbs', label: 'Verbs', placeholder: 'get, list' },
  { key: 'resources', label: 'Resources', placeholder: 'pods, secrets' },
];

/**
 * Editor of a query variable: the values of one dimension over the dashboard's time range, most
 * frequent first (GET /values), optionally narrowed by a filter.
 */
export function VariableQueryEditor({ query, onChange }: VariableQueryEditorProps) {
  const update = (patch: Partial<AuditVariableQuery>) => onChange({ ...query, ...patch });
  const updateFilter = (patch: Partial<AuditFilter>) => update({ filter: { ...query.filter, ...patch } });
  const dim = query.dim ?? '';
  const dimOption = DIMENSION_OPTIONS.find((o) => o.value === dim) ?? (dim ? { value: dim, label: dim } : null);
  return (
    <Stack direction="column" gap={1}>
      <InlineFieldRow>
        <InlineField
          label="Values of"
          labelWidth={LABEL_WIDTH}
          tooltip="A dimension. Its values over the dashboard's time range, most frequent first."
        >
          <Combobox<string>
            id="audit-variable-dim"
            width={32}
            placeholder="objectRef.namespace"
            options={DIMENSION_OPTIONS}
            value={dimOption}
            createCustomValue
            onChange={(option) => update({ dim: option?.value || undefined })}
          />
        </InlineField>
        <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip="At most this many values (default 1000).">
          <Input
            id="audit-variable-limit"
            type="number"
            min={1}
            width={12}
            placeholder="1000"
            value={query.limit ?? ''}
            onChange={(e) => {
              const n = parseInt(e.currentTarget.value, 10);
              update({ limit: Number.isFinite(n) && n > 0 ? n : undefined });
            }}
          />
        </InlineField>
      </InlineFieldRow>
      <InlineFieldRow>
        {FILTERS.map((f) => (
          <InlineField key={f.key} label={f.label} labelWidth={LABEL_WIDTH} tooltip="Only values of matching requests.">
            <StringListInput
              id={`audit-variable-filter-${f.key}`}
              width={32}
              placeholder={f.placeholder}
              value={query.filter?.[f.key]}
              onChange={(list) => updateFilter({ [f.key]: list })}
            />
          </InlineField>
        ))}
      </InlineFieldRow>
      <Text variant="bodySmall" color="secondary">
        Tip: set the variable&apos;s custom &quot;All&quot; value to * so that All matches every value, the empty one
        (cluster-scoped requests) too.
      </Text>
    </Stack>
  );
}
