import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlexusError } from '@plexus/core';
import { place, type Placement } from '../src/placement.js';

/** Where a record goes, given which hashes exist (COMPAT §1: the most specific existing hash answers). */

const ZONE = 'threebot.gateway.tf';

function at(existing: string[], fqdn: string, requested: string, owner = 'frank'): Placement {
  const set = new Set(existing);
  return place(fqdn, requested, ZONE, owner, (d) => set.has(d));
}

test('placement: the answering hash, a new hash with a split, and what is checked again', () => {
  const table: { what: string; existing: string[]; fqdn: string; requested: string; owner?: string; want: Partial<Placement> }[] = [
    {
      what: 'no deeper hash: the zone hash, nothing more specific may appear',
      existing: [ZONE],
      fqdn: `www.frank.${ZONE}`,
      requested: ZONE,
      want: { domain: ZONE, field: 'www.frank', guards: [{ domain: `www.frank.${ZONE}`, exists: false }, { domain: `frank.${ZONE}`, exists: false }] },
    },
    {
      what: 'asked for in the zone, answered from the name hash: written there',
      existing: [ZONE, `frank.${ZONE}`],
      fqdn: `www.frank.${ZONE}`,
      requested: ZONE,
      want: { domain: `frank.${ZONE}`, field: 'www', guards: [{ domain: `www.frank.${ZONE}`, exists: false }, { domain: `frank.${ZONE}`, exists: true }] },
    },
    {
      what: 'asked for in a hash that does not exist: created, the parent split at the label',
      existing: [ZONE],
      fqdn: `_acme-challenge.frank.${ZONE}`,
      requested: `frank.${ZONE}`,
      want: { domain: `frank.${ZONE}`, field: '_acme-challenge', split: { parent: ZONE, label: 'frank', from: '_acme-challenge.frank' } },
    },
    {
      what: "the name's own apex: its field in the parent becomes @",
      existing: [ZONE],
      fqdn: `frank.${ZONE}`,
      requested: `frank.${ZONE}`,
      want: { domain: `frank.${ZONE}`, field: '@', split: { parent: ZONE, label: 'frank', from: 'frank' } },
    },
    {
      what: 'a deeper new hash splits the answering one, not the zone',
      existing: [ZONE, `frank.${ZONE}`],
      fqdn: `a.dev.frank.${ZONE}`,
      requested: `dev.frank.${ZONE}`,
      want: { domain: `dev.frank.${ZONE}`, field: 'a', split: { parent: `frank.${ZONE}`, label: 'dev', from: 'a.dev' } },
    },
    {
      what: "a hash above the owner's name is not created (its apex would be nobody's): the answering hash",
      existing: [],
      fqdn: `x.frank.sub.${ZONE}`,
      requested: `sub.${ZONE}`,
      owner: 'frank.sub',
      want: { domain: ZONE, field: 'x.frank.sub' },
    },
  ];
  for (const row of table) {
    const got = at(row.existing, row.fqdn, row.requested, row.owner);
    for (const [k, v] of Object.entries(row.want)) assert.deepEqual(got[k as keyof Placement], v, `${row.what}: ${k}`);
    if (row.want.split === undefined) assert.equal(got.split, undefined, `${row.what}: no split`);
  }
});

test('placement: a domain above the zone is refused, naming the hash that answers', () => {
  const table: [string[], string, { hash: string; name: string }][] = [
    [[ZONE], ZONE, { hash: ZONE, name: 'www.frank' }],
    [[ZONE, `frank.${ZONE}`], `frank.${ZONE}`, { hash: `frank.${ZONE}`, name: 'www' }],
  ];
  for (const [existing, hash, want] of table) {
    const err = (() => {
      try {
        at(existing, `www.frank.${ZONE}`, 'gateway.tf');
      } catch (e) {
        return e as PlexusError;
      }
      return undefined;
    })();
    assert.equal(err?.code, 'ERR_PARAMS_INVALID', hash);
    assert.deepEqual({ hash: err.data?.hash, name: err.data?.name, path: err.data?.path }, { ...want, path: 'domain' });
  }
});
