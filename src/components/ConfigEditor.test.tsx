import { screen } from '@testing-library/react';

import { setupConfigEditor as setup } from './config/testUtils';

describe('ConfigEditor', () => {
  it('stores the file source for a new datasource', () => {
    const { last } = setup({});
    expect(last().source).toBe('file');
    expect(screen.getByText('No paths yet.')).toBeInTheDocument();
  });

  it('adds, edits and removes paths', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/var/log/kubernetes/audit'] } });
    expect(screen.getByLabelText('Path 1')).toHaveValue('/var/log/kubernetes/audit');

    await user.click(screen.getByRole('button', { name: /Add path/ }));
    await user.type(screen.getByLabelText('Path 2'), '/var/log/*/audit.log');
    expect(last()).toEqual({
      source: 'file',
      file: { paths: ['/var/log/kubernetes/audit', '/var/log/*/audit.log'] },
    });

    await user.clear(screen.getByLabelText('Path 1'));
    await user.type(screen.getByLabelText('Path 1'), '/srv/audit');
    expect(last().file?.paths).toEqual(['/srv/audit', '/var/log/*/audit.log']);

    await user.click(screen.getByRole('button', { name: 'Remove path 1' }));
    expect(last().file?.paths).toEqual(['/var/log/*/audit.log']);
    expect(screen.getByLabelText('Path 1')).toHaveValue('/var/log/*/audit.log');
    expect(screen.queryByLabelText('Path 2')).not.toBeInTheDocument();
  });

  it('sets max line bytes and keeps the paths', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.type(screen.getByLabelText(/^Max line bytes/), '1048576');
    expect(last()).toEqual({ source: 'file', file: { paths: ['/a'], maxLineBytes: 1048576 } });
    await user.clear(screen.getByLabelText(/^Max line bytes/));
    expect(last().file).toEqual({ paths: ['/a'], maxLineBytes: undefined });
  });

  it('sets the query timeout for every source and the max gzip ratio of files', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.type(screen.getByLabelText(/^Query timeout/), '90s');
    await user.type(screen.getByLabelText(/^Max gzip ratio/), '200');
    expect(last()).toEqual({ source: 'file', queryTimeout: '90s', file: { paths: ['/a'], maxGzipRatio: 200 } });
    await user.clear(screen.getByLabelText(/^Query timeout/));
    expect(last().queryTimeout).toBeUndefined();
  });

  it('turns the cache and the column index off and on, and sets their bounds and directory', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    expect(screen.getByLabelText('Result cache')).toBeChecked();
    expect(screen.getByLabelText('Column index')).toBeChecked();
    await user.type(screen.getByLabelText('Result cache size (MB)'), '256');
    await user.type(screen.getByLabelText('Index directory'), '/var/lib/grafana/k8saudit-index');
    await user.type(screen.getByLabelText('Index size (MB)'), '512');
    expect(last().file).toEqual({
      paths: ['/a'],
      cacheSizeMB: 256,
      indexDir: '/var/lib/grafana/k8saudit-index',
      indexSizeMB: 512,
    });
    await user.click(screen.getByLabelText('Column index'));
    expect(last().file?.index).toBe(false);
    expect(screen.getByLabelText('Index directory')).toBeDisabled();
    await user.click(screen.getByLabelText('Result cache'));
    expect(last().file?.cache).toBe(false);
    await user.click(screen.getByLabelText('Column index'));
    expect(last().file?.index).toBeUndefined();
  });

  it('sets the line format, auto by default', async () => {
    const { user, last } = setup({ source: 'file', file: { paths: ['/a'] } });
    expect(screen.getByRole('radio', { name: 'Auto' })).toBeChecked();
    await user.click(screen.getByRole('radio', { name: 'CRI' }));
    expect(last().envelope).toBe('cri');
    await user.click(screen.getByRole('radio', { name: 'Auto' }));
    expect(last().envelope).toBeUndefined();
  });

  it('offers every source', () => {
    setup({ source: 'file' });
    expect(screen.getByRole('radio', { name: 'Local audit files' })).toBeChecked();
    expect(screen.getByRole('radio', { name: 'Loki' })).toBeEnabled();
    expect(screen.getByRole('radio', { name: /CloudWatch/ })).toBeEnabled();
  });

  it('configures Loki, with the token as a secret', async () => {
    const { user, last, lastSecure } = setup({ source: 'file', file: { paths: ['/a'] } });
    await user.click(screen.getByRole('radio', { name: 'Loki' }));
    await user.type(screen.getByLabelText('URL'), 'http://loki:3100');
    await user.type(screen.getByLabelText('Tenant'), 'team-a');
    await user.click(screen.getByRole('radio', { name: 'Bearer token' }));
    await user.type(screen.getByLabelText('Token'), 's3cret');
    await user.click(screen.getByLabelText('Stream selector'));
    await user.paste('{job="audit"}');
    expect(last()).toMatchObject({
      source: 'loki',
      loki: { url: 'http://loki:3100', tenant: 'team-a', auth: 'bearer', selector: '{job="audit"}' },
    });
    expect(JSON.stringify(last())).not.toContain('s3cret');
    expect(lastSecure()).toEqual({ lokiBearerToken: 's3cret' });
  });

  it('configures CloudWatch with access keys', async () => {
    const { user, last, lastSecure } = setup({ source: 'cloudwatch' });
    await user.click(screen.getByRole('radio', { name: 'Access and secret key' }));
    await user.type(screen.getByLabelText('Access key ID'), 'AKIAEXAMPLE');
    await user.type(screen.getByLabelText('Secret access key'), 'wJalr');
    await user.type(screen.getByLabelText('Default region'), 'eu-west-1');
    await user.type(screen.getByLabelText('Cluster name'), 'prod');
    expect(last()).toMatchObject({
      source: 'cloudwatch',
      cloudwatch: { authType: 'keys', defaultRegion: 'eu-west-1', clusterName: 'prod' },
    });
    expect(lastSecure()).toEqual({ accessKey: 'AKIAEXAMPLE', secretKey: 'wJalr' });
  });
});
