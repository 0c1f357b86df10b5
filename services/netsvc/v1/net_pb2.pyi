import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IPAMConfig(_message.Message):
    __slots__ = ("subnet", "gateway", "ip_range")
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    IP_RANGE_FIELD_NUMBER: _ClassVar[int]
    subnet: str
    gateway: str
    ip_range: str
    def __init__(self, subnet: _Optional[str] = ..., gateway: _Optional[str] = ..., ip_range: _Optional[str] = ...) -> None: ...

class OverlayConfig(_message.Message):
    __slots__ = ("vni", "local_address", "peers", "port", "vxlan", "host_address")
    VNI_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    VXLAN_FIELD_NUMBER: _ClassVar[int]
    HOST_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    vni: int
    local_address: str
    peers: _containers.RepeatedScalarFieldContainer[str]
    port: int
    vxlan: str
    host_address: str
    def __init__(self, vni: _Optional[int] = ..., local_address: _Optional[str] = ..., peers: _Optional[_Iterable[str]] = ..., port: _Optional[int] = ..., vxlan: _Optional[str] = ..., host_address: _Optional[str] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "name", "driver", "scope", "created", "internal", "enable_ipv6", "ipam", "options", "labels", "bridge", "endpoints", "is_default", "overlay", "ingress")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    ENABLE_IPV6_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    driver: str
    scope: str
    created: _timestamp_pb2.Timestamp
    internal: bool
    enable_ipv6: bool
    ipam: _containers.RepeatedCompositeFieldContainer[IPAMConfig]
    options: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    bridge: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    is_default: bool
    overlay: OverlayConfig
    ingress: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., driver: _Optional[str] = ..., scope: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., internal: _Optional[bool] = ..., enable_ipv6: _Optional[bool] = ..., ipam: _Optional[_Iterable[_Union[IPAMConfig, _Mapping]]] = ..., options: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., bridge: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., is_default: _Optional[bool] = ..., overlay: _Optional[_Union[OverlayConfig, _Mapping]] = ..., ingress: _Optional[bool] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("id", "network_id", "network_name", "container_id", "container_name", "ipv4_address", "ipv4_gateway", "ipv6_address", "ipv6_gateway", "mac_address", "aliases", "dns_names", "interface")
    ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NAME_FIELD_NUMBER: _ClassVar[int]
    IPV4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IPV4_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    IPV6_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IPV6_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DNS_NAMES_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    id: str
    network_id: str
    network_name: str
    container_id: str
    container_name: str
    ipv4_address: str
    ipv4_gateway: str
    ipv6_address: str
    ipv6_gateway: str
    mac_address: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    dns_names: _containers.RepeatedScalarFieldContainer[str]
    interface: str
    def __init__(self, id: _Optional[str] = ..., network_id: _Optional[str] = ..., network_name: _Optional[str] = ..., container_id: _Optional[str] = ..., container_name: _Optional[str] = ..., ipv4_address: _Optional[str] = ..., ipv4_gateway: _Optional[str] = ..., ipv6_address: _Optional[str] = ..., ipv6_gateway: _Optional[str] = ..., mac_address: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., dns_names: _Optional[_Iterable[str]] = ..., interface: _Optional[str] = ...) -> None: ...

class PortBinding(_message.Message):
    __slots__ = ("protocol", "container_port", "host_ip", "host_port", "host_port_end")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    HOST_PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_PORT_END_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    container_port: int
    host_ip: str
    host_port: int
    host_port_end: int
    def __init__(self, protocol: _Optional[str] = ..., container_port: _Optional[int] = ..., host_ip: _Optional[str] = ..., host_port: _Optional[int] = ..., host_port_end: _Optional[int] = ...) -> None: ...

class Sandbox(_message.Message):
    __slots__ = ("container_id", "netns_path", "endpoints", "ports", "dns")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETNS_PATH_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    netns_path: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    ports: _containers.RepeatedCompositeFieldContainer[PortBinding]
    dns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, container_id: _Optional[str] = ..., netns_path: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., ports: _Optional[_Iterable[_Union[PortBinding, _Mapping]]] = ..., dns: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("name", "driver", "ipam", "internal", "enable_ipv6", "options", "labels", "check_duplicate", "id", "overlay")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    ENABLE_IPV6_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CHECK_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    ipam: _containers.RepeatedCompositeFieldContainer[IPAMConfig]
    internal: bool
    enable_ipv6: bool
    options: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    check_duplicate: bool
    id: str
    overlay: OverlayConfig
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., ipam: _Optional[_Iterable[_Union[IPAMConfig, _Mapping]]] = ..., internal: _Optional[bool] = ..., enable_ipv6: _Optional[bool] = ..., options: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., check_duplicate: _Optional[bool] = ..., id: _Optional[str] = ..., overlay: _Optional[_Union[OverlayConfig, _Mapping]] = ...) -> None: ...

class InspectNetworkRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[Network, _Mapping]]] = ...) -> None: ...

class RemoveNetworkRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RemoveNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PruneNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class PruneNetworksResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class SetPeersRequest(_message.Message):
    __slots__ = ("network", "peers")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    network: str
    peers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, network: _Optional[str] = ..., peers: _Optional[_Iterable[str]] = ...) -> None: ...

class SetPeersResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DnsRecord(_message.Message):
    __slots__ = ("name", "addresses")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    name: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class SetRecordsRequest(_message.Message):
    __slots__ = ("network", "records")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    network: str
    records: _containers.RepeatedCompositeFieldContainer[DnsRecord]
    def __init__(self, network: _Optional[str] = ..., records: _Optional[_Iterable[_Union[DnsRecord, _Mapping]]] = ...) -> None: ...

class SetRecordsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Balancer(_message.Message):
    __slots__ = ("vip", "backends", "ports")
    VIP_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    vip: str
    backends: _containers.RepeatedScalarFieldContainer[str]
    ports: _containers.RepeatedCompositeFieldContainer[PortBinding]
    def __init__(self, vip: _Optional[str] = ..., backends: _Optional[_Iterable[str]] = ..., ports: _Optional[_Iterable[_Union[PortBinding, _Mapping]]] = ...) -> None: ...

class SetBalancersRequest(_message.Message):
    __slots__ = ("network", "balancers")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    BALANCERS_FIELD_NUMBER: _ClassVar[int]
    network: str
    balancers: _containers.RepeatedCompositeFieldContainer[Balancer]
    def __init__(self, network: _Optional[str] = ..., balancers: _Optional[_Iterable[_Union[Balancer, _Mapping]]] = ...) -> None: ...

class SetBalancersResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("container_id", "container_name", "network", "ipv4_address", "ipv6_address", "aliases", "mac_address")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    IPV4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IPV6_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    container_name: str
    network: str
    ipv4_address: str
    ipv6_address: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    mac_address: str
    def __init__(self, container_id: _Optional[str] = ..., container_name: _Optional[str] = ..., network: _Optional[str] = ..., ipv4_address: _Optional[str] = ..., ipv6_address: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., mac_address: _Optional[str] = ...) -> None: ...

class DetachRequest(_message.Message):
    __slots__ = ("container_id", "network", "force")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    network: str
    force: bool
    def __init__(self, container_id: _Optional[str] = ..., network: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DetachResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetupRequest(_message.Message):
    __slots__ = ("container_id", "ports", "dns", "netns")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    NETNS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    ports: _containers.RepeatedCompositeFieldContainer[PortBinding]
    dns: _containers.RepeatedScalarFieldContainer[str]
    netns: str
    def __init__(self, container_id: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[PortBinding, _Mapping]]] = ..., dns: _Optional[_Iterable[str]] = ..., netns: _Optional[str] = ...) -> None: ...

class TeardownRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class TeardownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSandboxRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("container_id", "name")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    name: str
    def __init__(self, container_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RenameResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("existing", "running")
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    existing: _containers.RepeatedScalarFieldContainer[str]
    running: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, existing: _Optional[_Iterable[str]] = ..., running: _Optional[_Iterable[str]] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("removed_endpoints", "removed_sandboxes")
    REMOVED_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    removed_endpoints: _containers.RepeatedScalarFieldContainer[str]
    removed_sandboxes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, removed_endpoints: _Optional[_Iterable[str]] = ..., removed_sandboxes: _Optional[_Iterable[str]] = ...) -> None: ...
