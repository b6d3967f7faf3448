/* What every benchmark section is given and what it returns; its own module so sections and the runner do not import each other. */
export interface BenchContext {
  /** Quick mode: the whole `npm run bench -- --quick` stays under two minutes. */
  quick: boolean;
  /** How many times each measure is repeated; figures are medians. */
  rounds: number;
}

export interface BenchSection {
  id: string;
  title: string;
  run(context: BenchContext): Promise<string[]>;
}
