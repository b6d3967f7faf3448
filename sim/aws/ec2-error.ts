/** An EC2 API error as the real service reports it: an error code and HTTP status on the wire. */
export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'Ec2Error';
  }
}

export const notFound = {
  volume: (id: string) => new Ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`),
  snapshot: (id: string) => new Ec2Error('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`),
};
