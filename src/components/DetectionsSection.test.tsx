import { screen, within } from '@testing-library/react';

import { setupConfigEditor as setup } from './config/testUtils';
import { pruneDetections } from './config/DetectionsSection';
import { setupComboboxEnvironment } from './editor/testUtils';

setupComboboxEnvironment();

const ALLOW_IDS: Record<string, string> = {
  Users: 'users',
  Groups: 'groups',
  Namespaces: 'namespaces',
  Images: 'images',
  'Source networks': 'sourceNetworks',
};

/**
 * The input of a global allow-list ("Users", "Source networks"...): the one of that label outside
 * the per-rule rows, which have the same labels.
 */
function allowInput(label: string): HTMLElement {
  const inputs = screen
    .getAllByLabelText(new RegExp(`^${label}`))
    .filter((el) => el.id === `audit-detections-allow-${ALLOW_IDS[label]}`);
  expect(inputs).toHaveLength(1);
  return inputs[0];
}

/** The n-th (0-based) per-rule row. */
const ruleRow = (n: number) => screen.getByTestId(`audit-detections-rule-${n}`);

describe('DetectionsSection', () => {
  it.each(['file', 'loki', 'cloudwatch'] as const)(
    'is shown for the %s source, and stores nothing by itself',
    (source) => {
      const { changes } = setup({ source });
      expect(screen.getByText('Detections')).toBeInTheDocument();
      expect(allowInput('Users')).toHaveValue('');
      expect(screen.getByLabelText(/^RBAC look-back/)).toHaveAttribute('placeholder', '24h');
      expect(screen.getByText(/apply to every detections query of this datasource/)).toBeInTheDocument();
      expect(screen.queryByTestId('audit-detections-rule-0')).not.toBeInTheDocument();
      expect(changes).toEqual([]);
    }
  );

  it('stores the allow-lists typed as comma-separated lists, and nothing once they are cleared', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.type(allowInput('Users'), 'system:serviceaccount:ci:*, alice');
    await user.type(allowInput('Groups'), 'platform-admins');
    await user.type(allowInput('Namespaces'), 'debug-*');
    await user.type(allowInput('Images'), 'registry.example.com/debug/*');
    await user.type(allowInput('Source networks'), '10.0.0.0/8, 192.0.2.1');
    expect(last()).toEqual({
      source: 'file',
      file: { paths: ['/a'] },
      detections: {
        allow: {
          users: ['system:serviceaccount:ci:*', 'alice'],
          groups: ['platform-admins'],
          namespaces: ['debug-*'],
          images: ['registry.example.com/debug/*'],
          sourceNetworks: ['10.0.0.0/8', '192.0.2.1'],
        },
      },
    });

    await user.clear(allowInput('Groups'));
    expect(last().detections?.allow).not.toHaveProperty('groups');
    for (const label of ['Users', 'Namespaces', 'Images', 'Source networks']) {
      await user.clear(allowInput(label));
    }
    // Nothing left: the backend's defaults apply.
    expect(last().detections).toBeUndefined();
    expect(last().file).toEqual({ paths: ['/a'] });
  });

  it('stores the known-good profile and the cluster networks, and nothing once they are cleared', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.click(screen.getByLabelText(/^Known-good profile/));
    await user.type(screen.getByLabelText(/^Cluster networks/), '10.0.0.0/16, 172.16.0.0/12');
    expect(last().detections).toEqual({ profile: 'knownGood', clusterNetworks: ['10.0.0.0/16', '172.16.0.0/12'] });

    await user.type(screen.getByLabelText(/^Cluster networks/), ', vpc');
    expect(screen.getByText(/"vpc" is neither a CIDR/)).toBeInTheDocument();

    await user.click(screen.getByLabelText(/^Known-good profile/));
    await user.clear(screen.getByLabelText(/^Cluster networks/));
    expect(last().detections).toBeUndefined();
  });

  it('adds, fills and removes allow-lists of single rules', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.click(screen.getByRole('button', { name: /Add rule allow-list/ }));
    const row = ruleRow(0);
    expect(within(row).getByText(/Pick a rule: the row is not saved until then/)).toBeInTheDocument();

    // Lists typed before the rule is picked are kept and stored with it.
    await user.type(within(row).getByLabelText(/^Namespaces/), 'debug-*, sandbox');
    expect(last().detections).toBeUndefined();
    await user.click(within(row).getByLabelText(/^Rule/));
    await user.click(await screen.findByRole('option', { name: /^exec-into-pod/ }));
    expect(last().detections).toEqual({
      rules: { 'exec-into-pod': { allow: { namespaces: ['debug-*', 'sandbox'] } } },
    });
    expect(within(row).queryByText(/Pick a rule/)).not.toBeInTheDocument();

    // A second row: the rule of the first is not offered again.
    await user.click(screen.getByRole('button', { name: /Add rule allow-list/ }));
    const second = ruleRow(1);
    await user.click(within(second).getByLabelText(/^Rule/));
    expect(await screen.findByRole('option', { name: /^port-forward/ })).toBeInTheDocument();
    expect(screen.queryByRole('option', { name: /^exec-into-pod/ })).not.toBeInTheDocument();
    await user.click(screen.getByRole('option', { name: /^port-forward/ }));
    // A rule without lists is not stored, and the row says so.
    expect(within(second).getByText(/a rule without allow-lists is not saved/)).toBeInTheDocument();
    expect(Object.keys(last().detections?.rules ?? {})).toEqual(['exec-into-pod']);
    await user.type(within(second).getByLabelText(/^Users/), 'ops-*');
    expect(last().detections?.rules).toEqual({
      'exec-into-pod': { allow: { namespaces: ['debug-*', 'sandbox'] } },
      'port-forward': { allow: { users: ['ops-*'] } },
    });

    await user.click(screen.getByRole('button', { name: 'Remove rule allow-list 1' }));
    expect(last().detections).toEqual({ rules: { 'port-forward': { allow: { users: ['ops-*'] } } } });
    expect(within(ruleRow(0)).getByLabelText(/^Users/)).toHaveValue('ops-*');
    await user.click(screen.getByRole('button', { name: 'Remove rule allow-list 1' }));
    expect(last().detections).toBeUndefined();
    expect(screen.queryByTestId('audit-detections-rule-0')).not.toBeInTheDocument();
  });

  it('shows the stored settings, per-rule rows included', () => {
    setup({
      source: 'loki',
      detections: {
        allow: { users: ['ci-bot'] },
        rules: { 'node-proxy': { allow: { sourceNetworks: ['10.1.0.0/16'] } } },
        burstThreshold: 20,
        burstWindow: '1m',
        rbacLookback: '7d',
      },
    });
    expect(allowInput('Users')).toHaveValue('ci-bot');
    expect(within(ruleRow(0)).getByLabelText(/^Rule/)).toHaveValue('node-proxy');
    expect(within(ruleRow(0)).getByLabelText(/^Source networks/)).toHaveValue('10.1.0.0/16');
    expect(screen.getByLabelText(/^Burst threshold/)).toHaveValue(20);
    expect(screen.getByLabelText(/^Burst window/)).toHaveValue('1m');
    expect(screen.getByLabelText(/^RBAC look-back/)).toHaveValue('7d');
    expect(screen.queryByText(/fail until this is fixed/)).not.toBeInTheDocument();
  });

  it('says what the backend would reject, next to the field', async () => {
    const { user, last } = setup({
      source: 'file',
      file: { paths: ['/a'] },
      detections: { rules: { 'no-such-rule': { allow: { users: ['x'] } } } },
    });
    expect(within(ruleRow(0)).getByText(/Unknown rule "no-such-rule"/)).toBeInTheDocument();

    await user.type(allowInput('Source networks'), '10.0.0.0/8, 10.0.0.0/33, office');
    expect(
      screen.getByText(/^"10\.0\.0\.0\/33", "office" are neither a CIDR \(10\.0\.0\.0\/8\) nor an IP address/)
    ).toBeInTheDocument();
    // Stored as typed: the backend reports the same problem on "Save & test".
    expect(last().detections?.allow?.sourceNetworks).toEqual(['10.0.0.0/8', '10.0.0.0/33', 'office']);
    await user.type(within(ruleRow(0)).getByLabelText(/^Source networks/), '192.0.2.300');
    expect(within(ruleRow(0)).getByText(/"192\.0\.2\.300" is neither a CIDR/)).toBeInTheDocument();

    const threshold = screen.getByLabelText(/^Burst threshold/);
    const thresholdMessage = /must be a whole number of at least 1/;
    for (const bad of ['0', '-3', '2.5']) {
      await user.clear(threshold);
      await user.type(threshold, bad);
      expect(screen.getByText(thresholdMessage)).toHaveTextContent(
        bad === '0'
          ? /0 means the default \(10\)/
          : bad === '-3'
            ? /Detections queries of this datasource fail until this is fixed/
            : /Every query of this datasource fails until this is fixed/
      );
    }
    await user.clear(threshold);
    await user.type(threshold, '15');
    expect(screen.queryByText(thresholdMessage)).not.toBeInTheDocument();
    expect(last().detections?.burstThreshold).toBe(15);

    const window = screen.getByLabelText(/^Burst window/);
    await user.type(window, '5 minutes');
    expect(screen.getByText(/"5 minutes" is not a positive duration such as 30s, 5m or 1h/)).toBeInTheDocument();
    await user.clear(window);
    await user.type(window, '0s');
    expect(screen.getByText(/"0s" is not a positive duration/)).toBeInTheDocument();
    // The backend does not trim the window.
    await user.clear(window);
    await user.type(window, '90s ');
    expect(screen.getByText(/"90s " is not a positive duration/)).toBeInTheDocument();
    await user.type(window, '{Backspace}');
    expect(screen.queryByText(/is not a positive duration/)).not.toBeInTheDocument();
    expect(last().detections?.burstWindow).toBe('90s');

    const lookback = screen.getByLabelText(/^RBAC look-back/);
    await user.type(lookback, '1w');
    expect(screen.getByText(/"1w" is not a duration such as 90m, 24h or 7d/)).toBeInTheDocument();
    for (const ok of ['7d', '0', '90m']) {
      await user.clear(lookback);
      await user.type(lookback, ok);
      expect(screen.queryByText(/is not a duration such as/)).not.toBeInTheDocument();
      expect(last().detections?.rbacLookback).toBe(ok);
    }
  });

  it('stores cleared tunables as undefined so that the backend defaults apply', async () => {
    const { user, last } = setup({
      source: 'file',
      file: { paths: ['/a'] },
      detections: { burstThreshold: 20, burstWindow: '1m', rbacLookback: '7d' },
    });
    await user.clear(screen.getByLabelText(/^Burst threshold/));
    expect(last().detections).toEqual({ burstWindow: '1m', rbacLookback: '7d' });
    await user.clear(screen.getByLabelText(/^Burst window/));
    await user.clear(screen.getByLabelText(/^RBAC look-back/));
    expect(last().detections).toBeUndefined();
    // Spaces are not a value either.
    await user.type(screen.getByLabelText(/^RBAC look-back/), '   ');
    expect(last().detections).toBeUndefined();
  });
});

describe('pruneDetections', () => {
  it('drops empty lists, strings and maps; undefined when nothing is left', () => {
    expect(pruneDetections({})).toBeUndefined();
    expect(
      pruneDetections({ allow: { users: [], groups: [''] }, rules: {}, burstWindow: ' ', rbacLookback: '' })
    ).toBeUndefined();
    expect(pruneDetections({ allow: { users: ['a', ' '] }, burstThreshold: 0, rbacLookback: ' 7d ' })).toEqual({
      allow: { users: ['a'] },
      burstThreshold: 0,
      rbacLookback: ' 7d ',
    });
  });
});
