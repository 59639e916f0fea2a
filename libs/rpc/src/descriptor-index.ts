import type { DescEnum, DescFile, DescMessage, DescService } from '@bufbuild/protobuf';

/**
 * The proto files behind a set of services, indexed the way server reflection
 * asks for them: by file name, by fully-qualified symbol, by extension.
 */
export class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly serviceNames: string[];

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))].sort();
    for (const service of services) this.addFile(service.file);
  }

  /** Fully-qualified names of the services, sorted. */
  services(): string[] {
    return [...this.serviceNames];
  }

  /** The file with this path, e.g. "tcpstate/v1/agent.proto". */
  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  /**
   * The file declaring a fully-qualified symbol: a service, method, message
   * (nested too), field, oneof, enum, enum value or extension.
   */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.startsWith('.') ? symbol.slice(1) : symbol);
  }

  /** The file declaring extension `number` of message `extendee`. */
  fileContainingExtension(extendee: string, number: number): DescFile | undefined {
    return this.extensions.get(extendee)?.get(number);
  }

  /** Extension numbers known for message `typeName` (sorted), or undefined when the message is unknown. */
  extensionNumbers(typeName: string): number[] | undefined {
    const file = this.symbols.get(typeName);
    if (!file || !isMessageIn(file, typeName)) return undefined;
    return [...(this.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * The file followed by all its transitive dependencies, each once. The
   * requested file comes first, as grpc-go and grpc C++ answer, because some
   * clients read element 0 as the answer.
   */
  withDependencies(file: DescFile): DescFile[] {
    const out: DescFile[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return out;
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    file.dependencies.forEach((dep) => this.addFile(dep));
    const scope = file.proto.package;
    for (const service of file.services) {
      this.symbols.set(service.typeName, file);
      for (const method of service.methods) this.symbols.set(`${service.typeName}.${method.name}`, file);
    }
    file.messages.forEach((m) => this.addMessage(file, m));
    file.enums.forEach((e) => this.addEnum(file, e, scope));
    file.extensions.forEach((x) => this.addExtension(file, x.typeName, x.extendee.typeName, x.number));
  }

  private addMessage(file: DescFile, message: DescMessage): void {
    this.symbols.set(message.typeName, file);
    for (const field of message.fields) this.symbols.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) this.symbols.set(`${message.typeName}.${oneof.name}`, file);
    message.nestedMessages.forEach((m) => this.addMessage(file, m));
    message.nestedEnums.forEach((e) => this.addEnum(file, e, message.typeName));
    message.nestedExtensions.forEach((x) => this.addExtension(file, x.typeName, x.extendee.typeName, x.number));
  }

  // Enum values are scoped beside their enum (C++ scoping rules), not inside it.
  private addEnum(file: DescFile, e: DescEnum, scope: string): void {
    this.symbols.set(e.typeName, file);
    for (const value of e.values) this.symbols.set(scope ? `${scope}.${value.name}` : value.name, file);
  }

  private addExtension(file: DescFile, name: string, extendee: string, number: number): void {
    this.symbols.set(name, file);
    let byNumber = this.extensions.get(extendee);
    if (!byNumber) this.extensions.set(extendee, (byNumber = new Map()));
    byNumber.set(number, file);
  }
}

function isMessageIn(file: DescFile, typeName: string): boolean {
  const search = (messages: readonly DescMessage[]): boolean =>
    messages.some((m) => m.typeName === typeName || search(m.nestedMessages));
  return search(file.messages);
}
