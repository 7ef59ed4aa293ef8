import React, { useState } from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { InlineField } from '@grafana/ui';

import { DimensionValue } from '../../types';
import { setupComboboxEnvironment, typeValue, pills } from './testUtils';
import { buildOptions, normalizeValues, ValuesPicker } from './ValuesPicker';

setupComboboxEnvironment();

function Harness({
  load,
  initial,
  changes,
}: {
  load?: () => Promise<DimensionValue[]>;
  initial?: string[];
  changes: Array<string[] | undefined>;
}) {
  const [value, setValue] = useState(initial);
  return (
    <InlineField label="Verbs">
      <ValuesPicker
        id="verbs"
        value={value}
        load={load}
        onChange={(v) => {
          changes.push(v);
          setValue(v);
        }}
      />
    </InlineField>
  );
}

describe('buildOptions', () => {
  const values = [
    { value: 'system:serviceaccount:kube-system:x', count: 10 },
    { value: 'alice', count: 1 },
    { value: '', count: 4 },
  ];
  it('lists values with counts, then static suggestions not among them', () => {
    expect(
      buildOptions(values, [
        { value: 'bob', description: 'a person' },
        { value: 'alice', description: 'admin' },
      ])
    ).toEqual([
      {
        value: 'system:serviceaccount:kube-system:x',
        label: 'system:serviceaccount:kube-system:x',
        description: '10 requests',
      },
      { value: 'alice', label: 'alice', description: 'admin · 1 request' },
      { value: 'bob', label: 'bob', description: 'a person' },
    ]);
  });
  it('narrows by substring (any case) or by glob (anchored, case-sensitive)', () => {
    expect(buildOptions(values, [], 'ALI').map((o) => o.value)).toEqual(['alice']);
    expect(buildOptions(values, [], 'system:*').map((o) => o.value)).toEqual(['system:serviceaccount:kube-system:x']);
    expect(buildOptions(values, [], '*:x').map((o) => o.value)).toEqual(['system:serviceaccount:kube-system:x']);
    expect(buildOptions(values, [], 'System:*')).toEqual([]);
  });
  it('offers exclusions for text starting with !', () => {
    expect(buildOptions(values, [], '!ali')).toEqual([
      { value: '!alice', label: '!alice', description: 'exclude · 1 request' },
    ]);
  });
  it('keeps the empty value only where it means something (decision none)', () => {
    expect(buildOptions([{ value: '', count: 4 }], [])).toEqual([]);
    expect(
      buildOptions([{ value: '', count: 4 }], [{ value: 'none', description: 'no decision' }], '', 'none')
    ).toEqual([{ value: 'none', label: 'none', description: 'no decision · 4 requests' }]);
  });
  it('caps the number of options', () => {
    const many = Array.from({ length: 2000 }, (_, i) => ({ value: `v${i}`, count: 1 }));
    expect(buildOptions(many)).toHaveLength(500);
  });
});

describe('normalizeValues', () => {
  it('splits pasted lists and drops empty and repeated entries', () => {
    expect(normalizeValues(['get, list', ' get', '', 'watch,', 403])).toEqual(['get', 'list', 'watch', '403']);
  });
});

describe('ValuesPicker', () => {
  it('loads values when opened and shows counts', async () => {
    const load = jest.fn().mockResolvedValue([
      { value: 'get', count: 1200 },
      { value: 'list', count: 3 },
    ]);
    const changes: Array<string[] | undefined> = [];
    const user = userEvent.setup({ delay: null });
    render(<Harness load={load} changes={changes} />);
    expect(load).not.toHaveBeenCalled();
    await user.click(screen.getByLabelText('Verbs'));
    const option = await screen.findByRole('option', { name: /^get/ });
    expect(option).toHaveTextContent('1,200 requests');
    await user.click(option);
    expect(changes[changes.length - 1]).toEqual(['get']);
    await typeValue(user, /Verbs/, '!watch');
    expect(changes[changes.length - 1]).toEqual(['get', '!watch']);
    expect(await pills(user, /Verbs/)).toEqual(['get', '!watch']);
  });

  it('takes free text: globs, exclusions and comma-separated lists', async () => {
    const changes: Array<string[] | undefined> = [];
    const user = userEvent.setup({ delay: null });
    render(<Harness load={() => Promise.resolve([])} initial={['get']} changes={changes} />);
    await typeValue(user, /Verbs/, 'list, watch');
    expect(changes[changes.length - 1]).toEqual(['get', 'list', 'watch']);
    await typeValue(user, /Verbs/, 'system:*');
    expect(changes[changes.length - 1]).toEqual(['get', 'list', 'watch', 'system:*']);
  });

  it('says when values cannot be loaded and still takes typed values', async () => {
    const changes: Array<string[] | undefined> = [];
    const user = userEvent.setup({ delay: null });
    const load = jest.fn().mockRejectedValue({ data: { message: 'backend down' } });
    render(<Harness load={load} changes={changes} />);
    await user.click(screen.getByLabelText('Verbs'));
    expect(await screen.findByText('Could not load values: backend down')).toBeInTheDocument();
    await user.keyboard('{Escape}');
    await typeValue(user, /Verbs/, 'get');
    expect(changes[changes.length - 1]).toEqual(['get']);
  });
});
