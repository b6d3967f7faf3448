/*
 * A batch of labs' teardown evidence. Delete what provably belongs to each lab (its label, each
 * object deleted with its uid as a precondition), then list what is left: per namespace, one
 * labelled listing per kind covers the batch, for the delete and again for the verification. The
 * ownership rule is shared with cleanup-pod; lab ids are uuids (labs.id), so they always travel in
 * the label selector. A failed listing or delete is evidence missing for the labs it concerns
 * only: the other labs of the batch (and of other namespaces) keep their own evidence.
 */
import { coerceError } from '../../shared/errors.js';
import type { NamedResources, OwnedDeletion, OwnedTarget } from '../../shared/kube/labelled-resources.js';
import type { EndingLab, TeardownEvidence } from './decide.js';

/** Evidence per lab id; `concurrency` bounds the labs whose deletes are in flight at once. */
export async function teardownLabs(
  resources: NamedResources,
  labs: readonly EndingLab[],
  labLabel: string,
  concurrency: number,
): Promise<Map<string, TeardownEvidence>> {
  const evidence = new Map<string, TeardownEvidence>();
  await Promise.all(
    [...byNamespace(labs)].map(async ([namespace, group]) => {
      const targets = group.map((lab): OwnedTarget => ({ owner: { key: labLabel, id: lab.id }, names: {} }));
      const deleted = await resources
        .deleteOwnedMany(namespace, targets, 0, concurrency)
        .catch((err: unknown) =>
          targets.map((): OwnedDeletion => ({ errors: [coerceError(err).message], leftAlone: [] })),
        );
      const listed = await resources
        .listOwnedMany(namespace, targets)
        .catch((err: unknown) => targets.map(() => coerceError(err)));
      group.forEach((lab, index) => evidence.set(lab.id, evidenceOf(deleted[index], listed[index])));
    }),
  );
  return evidence;
}

function evidenceOf(deleted: OwnedDeletion | undefined, listed: string[] | Error | undefined): TeardownEvidence {
  const errors = deleted?.errors ?? ['no answer from the delete'];
  if (listed === undefined || listed instanceof Error)
    return {
      deletesSucceeded: errors.length === 0,
      remaining: null,
      errors: [...errors, listed?.message ?? 'no answer from the listing'],
    };
  return { deletesSucceeded: errors.length === 0, remaining: listed, errors };
}

function byNamespace(labs: readonly EndingLab[]): Map<string, EndingLab[]> {
  const groups = new Map<string, EndingLab[]>();
  for (const lab of labs) {
    const group = groups.get(lab.namespace);
    if (group) group.push(lab);
    else groups.set(lab.namespace, [lab]);
  }
  return groups;
}
