import React, { useCallback, useState } from 'react';
import { Button, Combobox, ComboboxOption, InlineField, InlineFieldRow, Input } from '@grafana/ui';

import { AuditFilter, DimensionValue, QueryType, SearchMode } from '../../types';
import { FILTER_FIELDS, FilterField } from './model';
import { ValuesLoader } from './resources';
import { ValuesPicker } from './ValuesPicker';

const LABEL_WIDTH = 14;

const SEARCH_MODES: Array<ComboboxOption<SearchMode>> = [
  { label: 'Text', value: 'text', description: 'Substring, letter case as typed' },
  { label: 'Any case', value: 'caseInsensitive', description: 'Substring, any letter case' },
  { label: 'Regex', value: 'regex', description: 'RE2 regular expression' },
];

const HELP = ' Pick values or type your own: * is a glob, a leading ! excludes (!system:node:*).';

export interface FilterEditorProps {
  filter: AuditFilter | undefined;
  queryType: QueryType;
  /** Changes one field; `run` asks to run the query. */
  onChange: (patch: Partial<AuditFilter>, run?: boolean) => void;
  onRunQuery: () => void;
  loadValues: ValuesLoader;
}

function FilterPicker({
  field,
  filter,
  onChange,
  loadValues,
}: {
  field: FilterField;
  filter: AuditFilter | undefined;
  onChange: FilterEditorProps['onChange'];
  loadValues: ValuesLoader;
}) {
  const load = useCallback((): Promise<DimensionValue[]> => loadValues(field.dim), [loadValues, field.dim]);
  return (
    <InlineField label={field.label} labelWidth={LABEL_WIDTH} tooltip={field.tooltip + HELP}>
      <ValuesPicker
        id={`audit-filter-${field.key}`}
        value={filter?.[field.key]}
        load={load}
        staticOptions={field.staticOptions}
        emptyValue={field.key === 'decisions' ? 'none' : undefined}
        placeholder={field.placeholder}
        onChange={(list) => onChange({ [field.key]: list }, true)}
      />
    </InlineField>
  );
}

/**
 * The filter: one picker per filter list (the common ones first, the rest behind "More filters"
 * unless they hold values) and the raw-line search.
 */
export function FilterEditor({ filter, queryType, onChange, onRunQuery, loadValues }: FilterEditorProps) {
  const [showAll, setShowAll] = useState(false);
  const isShown = (f: FilterField) =>
    showAll || f.primary || (queryType === 'objectHistory' && f.key === 'names') || !!filter?.[f.key]?.length;
  const hidden = FILTER_FIELDS.filter((f) => !isShown(f)).length;

  return (
    <InlineFieldRow>
      {FILTER_FIELDS.filter(isShown).map((f) => (
        <FilterPicker key={f.key} field={f} filter={filter} onChange={onChange} loadValues={loadValues} />
      ))}
      <InlineField
        label="Search"
        labelWidth={LABEL_WIDTH}
        tooltip="Text of the raw audit log line, or of its decoded request URI (an exec's command line: cat /var/run)."
      >
        <Input
          id="audit-filter-search"
          width={32}
          placeholder="text in the line"
          value={filter?.search ?? ''}
          onChange={(e) => onChange({ search: e.currentTarget.value || undefined })}
          onBlur={onRunQuery}
        />
      </InlineField>
      <InlineField label="Match" tooltip="How the search matches: as typed, in any letter case, or as an RE2 regex.">
        <Combobox<SearchMode>
          id="audit-filter-search-mode"
          width={14}
          options={SEARCH_MODES}
          value={filter?.searchMode ?? 'text'}
          onChange={(option) =>
            onChange({ searchMode: option.value === 'text' ? undefined : option.value }, !!filter?.search)
          }
        />
      </InlineField>
      {(hidden > 0 || showAll) && (
        <Button
          variant="secondary"
          fill="text"
          size="sm"
          icon={showAll ? 'angle-up' : 'angle-down'}
          onClick={() => setShowAll(!showAll)}
        >
          {showAll ? 'Fewer filters' : `More filters (${hidden})`}
        </Button>
      )}
    </InlineFieldRow>
  );
}
